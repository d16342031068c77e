"""The runc driver on its own: isolation, limits, stopping, adoption, its own netns, and the
ports an instance listens on."""

from __future__ import annotations

import shutil
import signal
import socket
from pathlib import Path

import httpx
import pytest
from tests.integration.agent.agent_world import LISTENS_ELSEWHERE, served_port, wait_for
from tests.integration.agent_runc.runc_world import (
    Containers,
    VethNetwork,
    get,
    runc_spec,
    wait_http,
)

from yun.agent.drivers.oci import ID_BASE
from yun.agent.drivers.runc import RuncDriver, RuncError
from yun.agent.drivers.runc_network import NETNS_DIR
from yun.agent.identity import Identities
from yun.agent.specs import ImageSpec
from yun.registry import build_busybox_image, unpack
from yun.tls import InstanceOwner, ensure_ca

pytestmark = pytest.mark.integration


def test_app_answers_from_an_isolated_unprivileged_container(
    containers: Containers, droplet: Path
) -> None:
    handle = containers.start(runc_spec(droplet))
    guid = handle.run_dir.name
    assert wait_http(handle).text == f"hello from {guid}"
    seen = get(handle, "/check").json()
    assert 1 in seen["pids"]
    assert len(seen["pids"]) <= 4  # launcher, python and the reading process: no host processes
    assert handle.pid not in seen["pids"] or handle.pid == 1
    assert seen["uid"] == 2000
    assert int(seen["cap_eff"], 16) == 0
    assert seen["no_new_privs"] == "1"
    assert seen["hostname"] == guid
    assert seen["cwd"] == "/home/vcap/app"
    writes = seen["writes"]
    for path in ("/usr/yun-probe", "/etc/yun-probe", "/yun-probe"):
        assert writes[path] == "Read-only file system", path  # even root could not write there
    for path in ("/etc/passwd", "/lifecycle/launcher.sh"):
        assert writes[path] in ("Read-only file system", "Permission denied"), path
    assert writes["/home/vcap/app/yun-probe"] == "written"
    assert writes["/tmp/yun-probe"] == "written"
    assert (handle.run_dir / "app/yun-probe").read_text() == "x"
    env = get(handle, "/env").json()
    assert env["HOME"] == "/home/vcap/app"
    assert env["DEPS_DIR"] == "/home/vcap/deps"
    assert env["PORT"] == str(handle.port)
    memory, disk = containers.driver.usage(handle)
    assert 1024 * 1024 < memory < 256 * 1024 * 1024
    assert disk > 0
    assert "request /check" in handle.logs["OUT"].read_text()


def test_the_containers_users_are_unprivileged_ids_on_the_host(
    containers: Containers, droplet: Path
) -> None:
    network = VethNetwork()
    for driver in (containers.driver, containers.new_driver(network=network)):
        handle = containers.start(runc_spec(droplet), driver=driver)
        seen = wait_http(handle, "/check").json()
        assert seen["uid_map"] == ["0", str(ID_BASE), "65536"]  # its root is ID_BASE outside
        assert seen["uid"] == 2000  # vcap, inside
        status = Path(f"/proc/{handle.pid}/status").read_text()
        uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
        assert uids == [str(ID_BASE + 2000)] * 4  # and nobody on the host
        assert (handle.run_dir / "app/yun-probe").stat().st_uid == ID_BASE + 2000
        assert seen["writes"]["/home/vcap/app/yun-probe"] == "written"
        assert seen["writes"]["/dev/stdout"] == "written"  # reopened, as nginx does its log
        assert seen["thread"] == "ran"
        driver.stop(handle, grace=0)

    plain = containers.new_driver(user_namespaces=False)
    handle = containers.start(runc_spec(droplet), driver=plain)
    assert wait_http(handle, "/check").json()["uid_map"] == ["0", "0", "4294967295"]


IMAGE_APP = (  # the image's root writes where the image's files are, then serves them
    "id -u > /www/id; echo written > /www/probe; exec /bin/busybox httpd -f -p 8080 -h /www"
)


def test_an_images_users_are_unprivileged_ids_on_the_host_too(
    containers: Containers, droplet: Path, tmp_path: Path
) -> None:
    if shutil.which("umoci") is None:
        pytest.skip("needs umoci (make deps installs it)")
    build_busybox_image(tmp_path / "layout", "1")
    bundle = tmp_path / "bundle"
    unpack(tmp_path / "layout", "1", bundle)
    image = ImageSpec(rootfs=bundle / "rootfs", argv=["/bin/sh", "-c", IMAGE_APP])
    handles = [  # two instances (a network each: VethNetwork holds one)
        containers.start(
            runc_spec(image.rootfs, image=image, index=n),
            driver=containers.new_driver(network=VethNetwork()),
        )
        for n in range(2)
    ]
    for handle in handles:
        assert wait_http(handle, "/id").text == "0\n"  # root, inside
        assert get(handle, "/probe").text == "written\n"  # the image's own files are its
        pid = handle.pid
        assert Path(f"/proc/{pid}/uid_map").read_text().split() == ["0", str(ID_BASE), "65536"]
        status = Path(f"/proc/{pid}/status").read_text()
        uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
        assert uids == [str(ID_BASE)] * 4  # and nobody on the host
        assert (handle.run_dir / "upper/www/probe").stat().st_uid == ID_BASE
    # One copy of the image with its owners moved, shared; the image itself is untouched.
    assert [p.name for p in bundle.iterdir() if p.name.startswith("rootfs-")] == [
        f"rootfs-ids-{ID_BASE}"
    ]
    assert (bundle / f"rootfs-ids-{ID_BASE}/www").stat().st_uid == ID_BASE
    assert (bundle / "rootfs/www").stat().st_uid == 0
    assert sorted(p.name for p in (bundle / "rootfs/www").iterdir()) == ["index.html"]


def test_the_seccomp_filter_refuses_namespaces_mounts_and_the_keyring(
    containers: Containers, droplet: Path
) -> None:
    handle = containers.start(runc_spec(droplet))
    wait_http(handle)
    seen = get(handle, "/check").json()
    assert seen["syscalls"] == {"unshare": "EPERM", "mount": "EPERM", "keyctl": "EPERM"}
    assert containers.driver.usage(handle) is not None  # and the app runs as ever


def test_the_instance_reads_its_identity_and_cannot_change_it(
    containers: Containers, droplet: Path, tmp_path: Path
) -> None:
    credentials = tmp_path / "credentials"
    Identities(ensure_ca(tmp_path / "tls")).issue(
        credentials, InstanceOwner("inst", "app", "space", "org")
    )
    handle = containers.start(runc_spec(droplet), credentials=credentials)
    wait_http(handle)
    seen = get(handle, "/check").json()
    assert seen["identity"] == {"CF_INSTANCE_CERT": "read", "CF_INSTANCE_KEY": "read"}
    env = get(handle, "/env").json()
    assert env["CF_INSTANCE_KEY"] == "/lifecycle/credentials/instance.key"
    assert (credentials / "instance.key").stat().st_uid == ID_BASE + 2000  # the app's user's
    assert seen["writes"]["/lifecycle/credentials/yun-probe"] == "Read-only file system"
    assert "Yun platform CA" in seen["trusted"]  # added to the stack's trust store
    assert len(seen["trusted"]) > 50  # which keeps its own


def test_an_instance_cannot_read_another_apps_files_nor_the_platforms(
    containers: Containers, droplet: Path, tmp_path: Path
) -> None:
    one = containers.start(runc_spec(droplet))
    other = containers.start(runc_spec(droplet, app_guid="other-app"))
    wait_http(other)
    platform_file = tmp_path / "yun.db"  # stands for the platform's state under $YUN_HOME
    platform_file.write_text("secrets")
    stats = socket.socket(socket.AF_UNIX)  # stands for HAProxy's stats and master sockets
    stats.bind(str(tmp_path / "stats.sock"))
    stats.listen()
    assert try_unix_from_host(tmp_path / "stats.sock") == "connected"
    others_code = other.run_dir / "app" / "server.py"
    assert others_code.is_file()
    try:
        seen = wait_http(
            one,
            f"/reach?read={others_code}&read={platform_file}&read=/home/vcap/app/server.py"
            f"&unix={tmp_path / 'stats.sock'}",
        ).json()
    finally:
        stats.close()
    assert seen["read"][str(others_code)] == "No such file or directory"
    assert seen["read"][str(platform_file)] == "No such file or directory"
    assert seen["read"]["/home/vcap/app/server.py"] == "read"  # its own files it can read
    assert seen["unix"][str(tmp_path / "stats.sock")] == "No such file or directory"


def try_unix_from_host(path: Path) -> str:
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(str(path))
        return "connected"


def test_an_app_beyond_its_memory_limit_is_killed_as_out_of_memory(
    containers: Containers, droplet: Path
) -> None:
    driver = containers.driver
    handle = containers.start(runc_spec(droplet, command="python3 hog.py", memory_mb=64))
    wait_for(lambda: not driver.alive(handle), timeout=20)
    status = driver.exit_status(handle)
    assert (status.code, status.reason) == (137, "out of memory")


def test_writing_past_the_disk_quota_stops_the_instance(
    containers: Containers, droplet: Path
) -> None:
    driver = containers.driver
    handle = containers.start(runc_spec(droplet, command="python3 fill.py", disk_mb=8))
    wait_for(lambda: not driver.alive(handle), timeout=20)
    assert driver.exit_status(handle).reason == "disk quota exceeded"
    assert driver.usage(handle)[1] > 8 * 1024 * 1024  # it was stopped past the quota


def test_stop_sends_term_and_leaves_no_container(containers: Containers, droplet: Path) -> None:
    driver = containers.driver
    handle = containers.start(runc_spec(droplet))
    wait_http(handle)
    assert handle.data["container_id"] in containers.list_ids()
    driver.stop(handle, grace=5)
    assert not driver.alive(handle)
    assert containers.list_ids() == []
    assert driver.exit_status(handle).code == 143  # the launcher passed SIGTERM on to the app
    driver.remove(handle)
    assert not handle.run_dir.exists()


def test_a_new_driver_adopts_the_running_container(containers: Containers, droplet: Path) -> None:
    handle = containers.start(runc_spec(droplet))
    wait_http(handle)
    later = containers.new_driver()
    adopted = later.adopt(containers.driver.to_dict(handle))
    assert adopted == handle
    assert later.alive(adopted)
    assert get(adopted).status_code == 200
    with pytest.raises(httpx.HTTPError):
        get(adopted, "/crash")
    wait_for(lambda: not later.alive(adopted))
    assert later.exit_status(adopted).reason == "exited with 3"
    dead = containers.new_driver().adopt(later.to_dict(adopted))
    assert dead is not None
    assert not containers.new_driver().alive(dead)


def test_a_new_driver_sweeps_containers_nothing_accounts_for(
    containers: Containers, droplet: Path
) -> None:
    kept = containers.start(runc_spec(droplet))
    lost = containers.start(runc_spec(droplet, index=1))  # its run dir's state went missing
    wait_http(kept)
    later = containers.new_driver()
    assert later.sweep([kept]) == [str(lost.data["container_id"])]
    assert containers.list_ids() == [str(kept.data["container_id"])]
    assert wait_http(kept).status_code == 200  # the kept one serves on
    assert later.sweep([kept]) == []


def test_a_signal_reaches_the_app_through_the_launcher(
    containers: Containers, droplet: Path
) -> None:
    driver = containers.driver
    handle = containers.start(runc_spec(droplet))
    wait_http(handle)
    driver.signal(handle, signal.SIGTERM)
    wait_for(lambda: not driver.alive(handle))
    assert driver.exit_status(handle).reason == "exited with 143 (SIGTERM)"


def test_with_a_network_the_container_gets_its_own_namespace_and_port_8080(
    containers: Containers, droplet: Path
) -> None:
    network = VethNetwork()
    driver = containers.new_driver(network=network)
    handle = containers.start(runc_spec(droplet), driver=driver)
    netns = NETNS_DIR / str(handle.data["netns"])
    assert netns.exists()
    assert handle.port == 8080
    assert handle.address is not None and handle.address.startswith("10.250.")
    seen = wait_http(handle, "/check").json()
    assert seen["interfaces"] == ["lo", network.host_side[:-1] + "c"]
    assert get(handle, "/env").json()["CF_INSTANCE_IP"] == handle.address
    driver.stop(handle, grace=2)
    driver.remove(handle)
    assert not netns.exists()


def test_a_container_that_cannot_start_raises_runc_error_and_leaves_nothing(
    containers: Containers, droplet: Path
) -> None:
    broken = RuncDriver(
        containers.root / "no-such-launcher.sh",
        state_root=containers.root / "runc",
        runc=containers.runc,
    )
    with pytest.raises(RuncError, match="no-such-launcher"):
        containers.start(runc_spec(droplet), driver=broken)
    assert containers.list_ids() == []


@pytest.mark.parametrize("own_network", [False, True])
def test_listening_ports_are_the_containers_own(
    containers: Containers, droplet: Path, own_network: bool
) -> None:
    driver = containers.new_driver(network=VethNetwork()) if own_network else containers.driver
    command = LISTENS_ELSEWHERE.replace("127.0.0.1", "0.0.0.0")
    handle = containers.start(runc_spec(droplet, command=command), driver=driver)
    with socket.socket() as ours:  # a listener of the host's, not the container's
        ours.bind(("127.0.0.1", 0))
        ours.listen()
        port = wait_for(lambda: served_port(handle.logs["OUT"].read_text().splitlines()))
        assert port not in (handle.port, ours.getsockname()[1])
        assert wait_for(lambda: driver.listening_ports(handle)) == {port}
    driver.stop(handle, grace=0)
    assert driver.listening_ports(handle) == set()
