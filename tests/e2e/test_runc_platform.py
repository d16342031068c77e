"""The platform with YUN_DRIVER=runc: instances in containers on their own bridge network."""

from __future__ import annotations

import ipaddress
import json
import random
from pathlib import Path

import pytest
from tests.e2e.conftest import EXAMPLES, launch

from yun.server.drivers import runc_missing

pytestmark = pytest.mark.e2e


@pytest.mark.skipif(runc_missing() is not None, reason=str(runc_missing()))
def test_push_runs_in_a_container_behind_the_router(tmp_path: Path) -> None:
    n = random.randrange(1, 250)
    subnet = f"10.252.{n}.0/24"
    env = {"YUN_DRIVER": "runc", "YUN_SUBNET": subnet, "YUN_BRIDGE": f"yune2e{n}"}
    with launch(tmp_path, env) as platform:
        platform.cli("push", "-p", str(EXAMPLES / "hello-python"))
        platform.wait_for("hello-python", "Hello from Yun")
        app = json.loads(platform.cli("app", "hello-python", "--json").stdout)
        (inst,) = app["processes"][0]["instance_details"]
        assert inst["driver"] == "runc"
        assert ipaddress.ip_address(inst["address"]) in ipaddress.ip_network(subnet)
        assert inst["port"] == 8080
        home = platform.get("hello-python", "/env/HOME").text.strip()
        assert home == "/home/vcap/app"
    assert not Path(f"/sys/class/net/yune2e{n}").exists()
