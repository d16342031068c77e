"""config.json of a runc instance: the isolation promises, checked without running anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from yun.agent.drivers.oci import (
    APP_DIR,
    DEPS_DIR,
    ID_BASE,
    LAUNCHER,
    STATUS_DIR,
    VCAP_UID,
    ContainerSpec,
    Stack,
    built_stack,
    container_config,
    cpu_shares,
    group_file,
    host_stack,
    hosts_file,
    passwd_file,
)
from yun.agent.drivers.runc_cli import last_error

MIB = 1024 * 1024
STACK = Stack(
    links={"bin": "usr/bin", "lib": "usr/lib"},
    binds=("/usr", "/etc/ssl", "/etc/nsswitch.conf"),
)


def make(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "hostname": "guid-1",
        "args": ["/bin/bash", LAUNCHER, "python3 app.py"],
        "env": {"PORT": "8080", "HOME": APP_DIR},
        "app_dir": Path("/runs/guid-1/app"),
        "deps_dir": Path("/runs/guid-1/deps"),
        "status_dir": Path("/runs/guid-1/status"),
        "launcher": Path("/opt/yun/launcher.sh"),
        "memory_mb": 256,
        "cgroups_path": "/yun/yun-guid-1",
        "stack": STACK,
    }
    values.update(changes)
    return container_config(ContainerSpec(**values))


def mount(config: dict[str, Any], destination: str) -> dict[str, Any]:
    (found,) = [m for m in config["mounts"] if m["destination"] == destination]
    return found


def test_root_is_read_only_and_the_stack_is_bound_read_only() -> None:
    config = make()
    assert config["root"] == {"path": "rootfs", "readonly": True}
    for path in STACK.binds:
        found = mount(config, path)
        assert found["source"] == path
        assert {"bind", "ro", "nosuid"} <= set(found["options"])
    assert "ro" in mount(config, "/sys")["options"]
    assert "ro" in mount(config, LAUNCHER)["options"]


def test_app_deps_and_status_are_writable_binds_of_the_run_dir() -> None:
    config = make()
    for destination, source in [
        (APP_DIR, "/runs/guid-1/app"),
        (DEPS_DIR, "/runs/guid-1/deps"),
        (STATUS_DIR, "/runs/guid-1/status"),
    ]:
        found = mount(config, destination)
        assert found["source"] == source
        assert "ro" not in found["options"]
        assert "nosuid" in found["options"]
    assert mount(config, LAUNCHER)["source"] == "/opt/yun/launcher.sh"
    assert mount(config, "/tmp")["type"] == "tmpfs"


def test_kernel_filesystems_come_before_what_is_mounted_inside_them() -> None:
    order = [m["destination"] for m in make()["mounts"]]
    assert order.index("/dev") < order.index("/dev/pts") < order.index(APP_DIR)
    assert order.index("/proc") == 0


def test_namespaces_share_the_host_network_unless_given_one() -> None:
    host = {ns["type"] for ns in make()["linux"]["namespaces"]}
    assert host == {"pid", "mount", "uts", "ipc"}
    netns = Path("/run/netns/yun-abc")
    own = make(netns=netns)["linux"]["namespaces"]
    assert {"type": "network", "path": str(netns)} in own


def test_with_an_id_base_the_container_has_its_own_users() -> None:
    config = make(id_base=ID_BASE, netns=Path("/run/netns/yun-abc"))
    linux = config["linux"]
    assert {"type": "user"} in linux["namespaces"]
    mapping = [{"containerID": 0, "hostID": ID_BASE, "size": 65536}]
    assert linux["uidMappings"] == linux["gidMappings"] == mapping
    assert config["process"]["user"]["uid"] == VCAP_UID  # inside: ID_BASE + 2000 outside
    sysfs = mount(config, "/sys")  # the host's, read-only: sysfs cannot be mounted here
    assert (sysfs["type"], sysfs["source"]) == ("bind", "/sys")
    assert {"rbind", "ro"} <= set(sysfs["options"])
    for hidden in ("/sys/fs", "/sys/kernel", "/sys/class/net", "/sys/firmware"):
        assert hidden in linux["maskedPaths"]

    plain = make()
    assert {"type": "user"} not in plain["linux"]["namespaces"]
    assert "uidMappings" not in plain["linux"]
    assert mount(plain, "/sys")["type"] == "sysfs"
    assert "/sys/class/net" not in plain["linux"]["maskedPaths"]


def test_runc_says_what_its_setup_hit_first(tmp_path: Path) -> None:
    log = tmp_path / "runc.log"
    lines = [
        {"level": "fatal", "msg": "nsexec-0[32148]: failed to open mount source /x: No such file"},
        {"level": "fatal", "msg": "nsexec-1[32149]: failed to receive fd from unix socket 30"},
        {"level": "error", "msg": "runc run failed: can't get final child's PID from pipe: EOF"},
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert last_error(log) == "failed to open mount source /x: No such file"
    log.write_text(json.dumps(lines[-1]) + "\n" + "not json\n")
    assert last_error(log) == "runc run failed: can't get final child's PID from pipe: EOF"
    assert last_error(tmp_path / "missing.log") is None


def test_process_is_unprivileged() -> None:
    process = make()["process"]
    assert process["user"]["uid"] == VCAP_UID != 0
    assert process["user"]["gid"] != 0
    assert process["noNewPrivileges"] is True
    assert all(caps == [] for caps in process["capabilities"].values())
    assert set(process["capabilities"]) == {
        "bounding",
        "effective",
        "inheritable",
        "permitted",
        "ambient",
    }
    assert process["cwd"] == APP_DIR
    assert process["terminal"] is False
    limits = {r["type"]: r for r in process["rlimits"]}
    assert limits["RLIMIT_NOFILE"]["hard"] == 16384
    assert limits["RLIMIT_CORE"]["hard"] == 0


def test_env_args_and_hostname() -> None:
    config = make()
    assert config["hostname"] == "guid-1"
    assert config["process"]["args"] == ["/bin/bash", LAUNCHER, "python3 app.py"]
    assert "PORT=8080" in config["process"]["env"]
    assert f"HOME={APP_DIR}" in config["process"]["env"]


def test_resources_follow_the_memory_limit() -> None:
    linux = make(memory_mb=256)["linux"]
    assert linux["cgroupsPath"] == "/yun/yun-guid-1"
    resources = linux["resources"]
    assert resources["memory"] == {"limit": 256 * MIB, "swap": 256 * MIB}
    assert resources["cpu"] == {"shares": 256}
    assert resources["pids"] == {"limit": 1024}
    assert resources["devices"] == [{"allow": False, "access": "rwm"}]
    without_swap = make(swap_limit=False)["linux"]["resources"]["memory"]
    assert without_swap == {"limit": 256 * MIB}


@pytest.mark.parametrize(
    ("memory_mb", "shares"),
    [(1, 2), (2, 2), (128, 128), (1024, 1024), (4096, 4096), (10**6, 262144)],
)
def test_cpu_shares_are_1024_per_gib_within_kernel_bounds(memory_mb: int, shares: int) -> None:
    assert cpu_shares(memory_mb) == shares


def test_masked_proc_files() -> None:
    linux = make()["linux"]
    assert "/proc/kcore" in linux["maskedPaths"]
    assert "/proc/sys" in linux["readonlyPaths"]


def test_host_stack_mirrors_symlinks_and_binds_what_exists(tmp_path: Path) -> None:
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "bin").symlink_to("usr/bin")
    (tmp_path / "sbin").mkdir()
    (tmp_path / "etc/ssl").mkdir(parents=True)
    (tmp_path / "etc/nsswitch.conf").write_text("hosts: files dns\n")
    (tmp_path / "etc/shadow").write_text("root:secret\n")
    stack = host_stack(tmp_path)
    assert stack.links == {"bin": "usr/bin"}
    assert set(stack.binds) == {"/usr", "/sbin", "/etc/ssl", "/etc/nsswitch.conf"}


def test_a_built_stack_is_its_own_usr_and_etc_with_the_generated_files_over_it(
    tmp_path: Path,
) -> None:
    root = tmp_path / "stacks" / "trixie" / "rootfs"
    (root / "usr/bin").mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")
    (root / "etc/java-21-openjdk").mkdir(parents=True)
    bundle_root = tmp_path / "run" / "rootfs"
    (bundle_root / "etc").mkdir(parents=True)
    generated = tmp_path / "run" / "etc"  # beside the root: the stack's /etc covers rootfs/etc
    generated.mkdir()
    for name in ("passwd", "group", "hosts", "hostname", "resolv.conf"):
        (generated / name).write_text(f"generated {name}\n")

    stack = built_stack(root)
    config = make(stack=stack, rootfs=bundle_root)

    assert stack.links == {"bin": "usr/bin"}
    assert mount(config, "/usr")["source"] == str(root / "usr")
    assert mount(config, "/etc")["source"] == str(root / "etc")
    assert "ro" in mount(config, "/etc")["options"]
    destinations = [m["destination"] for m in config["mounts"]]
    for name in ("passwd", "group", "hosts", "hostname", "resolv.conf"):
        own = mount(config, f"/etc/{name}")
        assert own["source"] == str(generated / name)
        assert destinations.index(f"/etc/{name}") > destinations.index("/etc")


def test_generated_etc_files_know_the_app_user_and_nothing_of_the_host() -> None:
    passwd = passwd_file()
    assert f"vcap:x:{VCAP_UID}:" in passwd
    assert f":{APP_DIR}:" in passwd
    assert len(passwd.splitlines()) == 3
    assert "vcap:x:" in group_file()
    assert "10.244.0.5\tguid-1" in hosts_file("guid-1", "10.244.0.5")
    assert "127.0.1.1\tguid-1" in hosts_file("guid-1", "127.0.0.1")
