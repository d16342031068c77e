"""Disaster recovery: `yun backup FILE` on one platform and `yun restore FILE` into a fresh
YUN_HOME on another (new ports, as a new machine would have): the apps come back with their
routes, environment and services, and serve; the built-in PostgreSQL and Redis services come
back with their data (the old servers are stopped, so it can only come from the archive)."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import EXAMPLES, YUN, Platform, _platform, launch, push_observed

pytestmark = pytest.mark.e2e
DEMO = "services-demo"


def service_ports() -> dict[str, str]:
    first = random.randrange(32000, 33000, 50)
    return {"YUN_SERVICE_PORTS": f"{first}-{first + 49}"}


def demo(platform: Platform, method: str, path: str, body: str = "") -> Any:
    return platform.call(DEMO, method, path, body)


def test_a_backup_restored_into_a_fresh_home_serves_the_same_apps(tmp_path: Path) -> None:
    archive = tmp_path / "yun-backup.tar.gz"
    (tmp_path / "old").mkdir()
    with launch(tmp_path / "old", service_ports()) as old:
        old.cli("push", "-p", str(EXAMPLES / DEMO))
        for note in ("first", "second"):
            demo(old, "POST", "/notes", note)
        assert demo(old, "POST", "/counter")["counter"] == 1
        assert demo(old, "POST", "/counter")["counter"] == 2
        push_observed(old, tmp_path, "keeper")
        old.cli("set-env", "keeper", "GREETING", "still here")
        old.cli("restart", "keeper")
        old.cli("map-route", "keeper", "apps.localhost", "-n", "keeper-alt")
        old.cli("create-user-provided-service", "ledger", "-p", '{"url": "https://ledger.example"}')
        old.cli("bind-service", "keeper", "ledger", "--restart")
        saved = old.cli("backup", str(archive))
        assert "Saved the platform's backup to" in saved.stdout
        assert archive.stat().st_size > 10_000
        assert oct(archive.stat().st_mode & 0o777) == "0o600"  # it holds every secret

    base = tmp_path / "new"
    base.mkdir()
    home = base / "home"
    new = _platform(base, home, service_ports())
    try:
        restored = new.cli("restore", str(archive))
        assert f"into {home}" in restored.stdout
        assert "the data of 2 built-in services" in restored.stdout
        new.start()
        new.cli("login", "-a", new.api_url, "-u", "admin", "-p", "e2e-secret")

        # The built-in services were made anew here and hold the old platform's data.
        new.wait_for(DEMO, "", timeout=120, path="/health")
        assert demo(new, "GET", "/notes") == {"notes": ["first", "second"]}
        assert demo(new, "GET", "/counter") == {"counter": 2}
        revisions = new.cli("revisions", DEMO).stdout
        assert "services restored from the platform backup" in revisions
        backups = json.loads(new.cli("service-backups", "demo-db", "--json").stdout)
        assert [b["restore"]["state"] for b in backups] == ["SUCCEEDED"]

        assert "observed" in new.wait_for("keeper", "observed", timeout=120).text
        assert new.get("keeper-alt").status_code == 200
        ran = new.cli(
            "run-task", "keeper", "echo greeting=$GREETING; echo $VCAP_SERVICES", "--wait"
        )
        assert "greeting=still here" in ran.stdout
        assert "https://ledger.example" in ran.stdout
        services = json.loads(new.cli("services", "--json").stdout)
        assert sorted(s["name"] for s in services) == ["demo-cache", "demo-db", "ledger"]

        again = new.cli("restore", str(archive), check=False)
        assert again.returncode == 1 and "yun server runs for" in again.stderr
    finally:
        new.stop_server()
        stopped = subprocess.run(
            [YUN, "server", "stop", "--all"],
            env=new.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert stopped.returncode == 0, stopped.stderr  # its servers too: nothing left running
    refused = new.cli("restore", str(archive), check=False)
    assert refused.returncode == 1 and "already has apps" in refused.stderr
    junk = tmp_path / "junk.tar.gz"
    junk.write_text("not a backup")
    wrong = new.cli("restore", str(junk), check=False)
    assert wrong.returncode == 1 and "not a readable Yun backup" in wrong.stderr
