"""What a staging container may touch, pinned down in its OCI config (no runc needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yun.agent.drivers.oci import VCAP_UID, Stack
from yun.agent.drivers.runc_staging import (
    STAGING_HOME,
    StepConfig,
    container_env,
    session_id,
    step_config,
)

WORK = Path("/var/lib/yun/staging/build-1/staging")
CACHE = Path("/var/lib/yun/cache/app-1")
LAUNCHER = Path("/opt/yun/builder/launcher.sh")


def config(**changes: Any) -> dict[str, Any]:
    step = StepConfig(
        hostname="yun-stg-abc",
        rootfs=Path("/var/lib/yun/staging-runc/sessions/yun-stg-abc/rootfs"),
        args=[f"{WORK}/buildpacks/0/bin/supply", str(WORK / "app"), str(CACHE)],
        env={"HOME": "/root", "PATH": "/usr/bin:/bin", "APP_SECRET": "s3"},
        cwd=WORK / "app",
        stack=Stack(links={"bin": "usr/bin"}, binds=("/usr", "/etc/ssl")),
        writable=(WORK, CACHE),
        readable=(LAUNCHER,),
        memory_mb=1024,
        cgroups_path="/yun/yun-stg-abc-1",
        netns=Path("/run/netns/yun-stgabc"),
    )
    for key, value in changes.items():
        object.__setattr__(step, key, value)
    return step_config(step)


def mounts_at(cfg: dict[str, Any]) -> dict[str, list[str]]:
    return {m["destination"]: m["options"] for m in cfg["mounts"]}


def test_only_the_staging_folders_are_writable() -> None:
    mounts = mounts_at(config())
    assert "ro" not in mounts[str(WORK)] and "ro" not in mounts[str(CACHE)]
    for path in ("/usr", "/etc/ssl", str(LAUNCHER)):
        assert "ro" in mounts[path]
    assert config()["root"]["readonly"] is True
    binds = [m for m in config()["mounts"] if m["type"] == "bind"]
    assert {m["destination"] for m in binds} == {
        "/usr",
        "/etc/ssl",
        str(LAUNCHER),
        str(WORK),
        str(CACHE),
    }
    assert all(m["source"] == m["destination"] for m in binds)  # the contract's paths hold


def test_the_step_runs_as_vcap_without_capabilities_in_its_own_namespaces() -> None:
    cfg = config()
    proc = cfg["process"]
    assert proc["user"]["uid"] == VCAP_UID and proc["noNewPrivileges"] is True
    assert all(caps == [] for caps in proc["capabilities"].values())
    assert proc["cwd"] == str(WORK / "app")
    kinds = {ns["type"] for ns in cfg["linux"]["namespaces"]}
    assert kinds == {"pid", "mount", "uts", "ipc", "network"}
    assert cfg["linux"]["resources"]["memory"]["limit"] == 1024 * 1024 * 1024


def test_without_a_network_the_step_shares_the_hosts() -> None:
    kinds = {ns["type"] for ns in config(netns=None)["linux"]["namespaces"]}
    assert "network" not in kinds


def test_home_moves_to_tmp_unless_it_is_a_writable_folder() -> None:
    env = container_env({"HOME": "/root", "A": "1"}, writable=[WORK])
    assert env["HOME"] == STAGING_HOME and env["TMPDIR"] == "/tmp" and env["A"] == "1"
    assert env["USER"] == "vcap"
    kept = container_env({"HOME": str(WORK / "app")}, writable=[WORK])
    assert kept["HOME"] == str(WORK / "app")  # post-staging hooks run with the app as HOME
    assert container_env({}, writable=[WORK])["HOME"] == STAGING_HOME


def test_the_apps_env_reaches_the_step() -> None:
    assert "APP_SECRET=s3" in config()["process"]["env"]


def test_session_ids_are_short_distinct_and_stable() -> None:
    a, b = session_id("/w/build-1/staging"), session_id("/w/build-2/staging")
    assert a != b and a == session_id("/w/build-1/staging")
    assert a.startswith("yun-stg-") and len(a) <= 24
