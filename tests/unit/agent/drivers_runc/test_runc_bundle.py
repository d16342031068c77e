"""The runc driver's on-disk side: disk accounting, the rootfs, names, and what a dead instance's
run dir says about why it ended (no runc needed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from yun.agent.drivers.base import ExitStatus, Handle
from yun.agent.drivers.oci import Stack
from yun.agent.drivers.runc import RuncDriver, container_id
from yun.agent.drivers.runc_bundle import make_rootfs
from yun.agent.drivers.runc_network import HostPorts, netns_name
from yun.agent.drivers.usage import disk_usage

MIB = 1024 * 1024


def write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(os.urandom(size))
        f.flush()
        os.fsync(f.fileno())


def test_disk_usage_counts_nested_files(tmp_path: Path) -> None:
    empty = disk_usage([tmp_path])
    write(tmp_path / "app/a.bin", 2 * MIB)
    write(tmp_path / "app/lib/deep/b.bin", 3 * MIB)
    used = disk_usage([tmp_path]) - empty
    assert 5 * MIB <= used < 5 * MIB + 256 * 1024


def test_disk_usage_counts_hard_links_once_and_sparse_files_by_their_blocks(
    tmp_path: Path,
) -> None:
    write(tmp_path / "one.bin", MIB)
    os.link(tmp_path / "one.bin", tmp_path / "two.bin")
    with (tmp_path / "sparse.bin").open("wb") as f:
        f.truncate(512 * MIB)
    assert disk_usage([tmp_path]) < 2 * MIB


def test_disk_usage_does_not_follow_symlinks(tmp_path: Path) -> None:
    write(tmp_path / "outside/big.bin", 4 * MIB)
    (tmp_path / "app").mkdir()
    (tmp_path / "app/link").symlink_to(tmp_path / "outside")
    assert disk_usage([tmp_path / "app"]) < MIB
    assert disk_usage([tmp_path / "missing"]) == 0


def test_rootfs_holds_links_and_generated_etc_only(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    stack = Stack(links={"bin": "usr/bin"}, binds=("/usr",))
    make_rootfs(rootfs, stack=stack, hostname="guid-1", address="10.244.0.9", dns=["10.244.0.1"])
    assert (rootfs / "bin").readlink() == Path("usr/bin")
    assert "vcap:x:2000" in (rootfs / "etc/passwd").read_text()
    assert "10.244.0.9\tguid-1" in (rootfs / "etc/hosts").read_text()
    assert (rootfs / "etc/resolv.conf").read_text() == "nameserver 10.244.0.1\n"
    assert not (rootfs / "etc/shadow").exists()


def test_names_fit_runc_and_ip() -> None:
    cid = container_id("0f8e2c1a-1111-2222-3333-444455556666")
    assert cid == "yun-0f8e2c1a-1111-2222-3333-444455556666"
    assert container_id("a/b c") == "yun-a-b-c"
    assert netns_name(cid) == "yun-0f8e2c1a11112222"


def dead_handle(run_dir: Path, **data: Any) -> Handle:
    (run_dir / "status").mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "container_id": "yun-unit",
        "cgroups_path": "/yun/yun-unit-test-no-such-cgroup",
        "disk_mb": 1,
        "hooks": False,
    }
    values.update(data)
    return Handle(run_dir=run_dir, pid=None, address="127.0.0.1", port=1, logs={}, data=values)


@pytest.fixture
def driver(tmp_path: Path) -> RuncDriver:
    return RuncDriver(tmp_path / "launcher.sh", state_root=tmp_path / "state", runc="false")


def test_exit_status_reasons(driver: RuncDriver, tmp_path: Path) -> None:
    handle = dead_handle(tmp_path / "run")
    assert driver.exit_status(handle).reason == "exited (status unknown)"
    (tmp_path / "run/status/exit-status").write_text("3\n")
    assert driver.exit_status(handle) == ExitStatus(3, "exited with 3")
    (tmp_path / "run/status/exit-status").write_text("143\n")
    assert driver.exit_status(handle).reason == "exited with 143 (SIGTERM)"
    (tmp_path / "run/status/hook-failed").touch()
    assert driver.exit_status(handle).reason == "pre-running hook failed"


def test_oom_and_disk_markers_win(driver: RuncDriver, tmp_path: Path) -> None:
    handle = dead_handle(tmp_path / "run")
    (tmp_path / "run/status/exit-status").write_text("137\n")
    (tmp_path / "run/oom-killed").touch()
    assert driver.exit_status(handle) == ExitStatus(137, "out of memory")
    (tmp_path / "run/disk-quota-exceeded").touch()
    assert driver.exit_status(handle).reason == "disk quota exceeded"


def test_an_oom_kill_of_a_helper_is_not_why_a_clean_exit_happened(
    driver: RuncDriver, tmp_path: Path
) -> None:
    handle = dead_handle(tmp_path / "run")
    (tmp_path / "run/status/exit-status").write_text("0\n")
    (tmp_path / "run/oom-killed").touch()
    assert driver.exit_status(handle) == ExitStatus(0, "exited with 0")


def test_ready_waits_for_pre_running_hooks(driver: RuncDriver, tmp_path: Path) -> None:
    assert driver.ready(dead_handle(tmp_path / "a"))
    hooked = dead_handle(tmp_path / "b", hooks=True)
    assert not driver.ready(hooked)
    (tmp_path / "b/status/hooks-done").touch()
    assert driver.ready(hooked)


def test_usage_reports_the_writable_dirs(driver: RuncDriver, tmp_path: Path) -> None:
    handle = dead_handle(tmp_path / "run")
    write(tmp_path / "run/app/data.bin", 2 * MIB)
    write(tmp_path / "run/rootfs/not-counted.bin", 4 * MIB)
    usage = driver.usage(handle)
    assert usage is not None
    assert usage.memory_bytes is None  # no cgroup to ask
    assert usage.disk_bytes is not None and 2 * MIB <= usage.disk_bytes < 3 * MIB


def test_adopt_returns_an_unknown_container_as_dead(driver: RuncDriver, tmp_path: Path) -> None:
    handle = dead_handle(tmp_path / "run")
    saved = driver.to_dict(handle)
    saved["pid"] = os.getpid()
    adopted = driver.adopt(saved)
    assert adopted is not None
    assert adopted.pid is None
    assert not driver.alive(adopted)
    assert adopted.data["container_id"] == "yun-unit"
    assert driver.adopt({"pid": 1}) is None
    saved["data"] = {}
    assert driver.adopt(saved) is None


def test_host_ports_are_handed_out_once_until_released(tmp_path: Path) -> None:
    ports = HostPorts("127.0.0.1")
    first = ports.take(tmp_path / "a")
    ports.hold(40999, tmp_path / "adopted")
    taken = {ports.take(tmp_path / f"r{n}") for n in range(20)}
    assert first not in taken
    assert 40999 not in taken
    ports.release(first, tmp_path / "someone-else")  # only the holder releases
    assert first not in {ports.take(tmp_path / f"s{n}") for n in range(20)}
