"""Instances on a stack: the container's userland is the stack's root filesystem (its Python,
its /etc), read-only, with the driver's own /etc/passwd, hosts and hostname over it."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.agent.agent_world import wait_for
from tests.integration.agent_runc.runc_world import Containers, get, runc_spec, wait_http
from tests.stacks import built_stack

pytestmark = pytest.mark.integration

SAY_VERSION = "python3 -c 'import sys; print(\"python\", sys.version.split()[0], flush=True)'"


@pytest.mark.parametrize("name", ["trixie", "testing"])
def test_an_instance_runs_on_its_stack_read_only(
    containers: Containers, droplet: Path, name: str
) -> None:
    stack = built_stack(name)
    current = stack.rootfs.parent.parent / "current" / "rootfs"
    command = f"{SAY_VERSION} && python3 server.py"
    handle = containers.start(runc_spec(droplet, command=command, stack_root=current))
    guid = handle.run_dir.name

    assert wait_http(handle).text == f"hello from {guid}"
    python = stack.info["runtimes"]["python"]
    wait_for(lambda: f"python {python}" in handle.logs["OUT"].read_text(), timeout=10)
    seen = get(handle, "/check").json()
    assert seen["uid"] == 2000
    assert int(seen["cap_eff"], 16) == 0
    assert seen["hostname"] == guid
    for path in ("/usr/yun-probe", "/etc/yun-probe", "/yun-probe", "/etc/passwd"):
        assert seen["writes"][path] in ("Read-only file system", "Permission denied"), path
    assert seen["writes"]["/home/vcap/app/yun-probe"] == "written"
    reach = get(handle, "/reach?read=/etc/os-release&read=/etc/ssl/certs/ca-certificates.crt")
    assert set(reach.json()["read"].values()) == {"read"}
    assert get(handle, "/env").json()["HOME"] == "/home/vcap/app"


def test_an_unbuilt_stack_is_refused_in_one_line(
    containers: Containers, droplet: Path, tmp_path: Path
) -> None:
    from yun.agent.drivers.runc import RuncError

    with pytest.raises(RuncError, match="is not built"):
        containers.start(runc_spec(droplet, stack_root=tmp_path / "nothing" / "rootfs"))
