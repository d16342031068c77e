"""The whole platform with its state in a real PostgreSQL server (YUN_DATABASE_URL)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tests.e2e.conftest import EXAMPLES, launch
from tests.helpers import postgres_server

pytestmark = pytest.mark.e2e


def test_push_scale_and_restart_with_postgresql_state(tmp_path: Path) -> None:
    with postgres_server() as url, launch(tmp_path, {"YUN_DATABASE_URL": url}) as platform:
        assert not (platform.home / "yun.db").exists()
        platform.cli("push", "-p", str(EXAMPLES / "hello-node"))
        platform.wait_for("hello-node", "(node v")
        platform.cli("scale", "hello-node", "-i", "2")
        platform.stop_server()
        platform.start()
        platform.wait_for("hello-node", "(node v", timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            app = json.loads(platform.cli("app", "hello-node", "--json").stdout)
            web = next(p for p in app["processes"] if p["type"] == "web")
            if web["running"] == 2:
                break
            time.sleep(0.5)
        assert web["running"] == 2, web
