"""Backing services as a user drives them with the CLI: the built-in PostgreSQL and Redis
brokers, a third-party broker, a user-provided syslog drain; binding, backups and restores,
and data that survives a `yun server` restart."""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterator

import psycopg
import pytest
from tests.e2e.conftest import EXAMPLES, Platform, launch
from tests.syslog_receiver import Receiver
from tests.thirdparty_broker import thirdparty_broker

pytestmark = pytest.mark.e2e

APP = "services-demo"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    first = random.randrange(30000, 32000, 50)
    ports = {"YUN_SERVICE_PORTS": f"{first}-{first + 49}"}
    with launch(tmp_path_factory.mktemp("services"), ports) as plat:
        yield plat


def call(platform: Platform, method: str, path: str, body: str = "") -> dict:
    return dict(platform.call(APP, method, path, body))


def backup_id(output: str) -> str:
    found = re.search(r"Backup ([0-9a-f-]{36}) of", output)
    assert found, output
    return found[1]


def test_built_in_services_bound_backed_up_restored_and_kept(platform: Platform) -> None:
    market = platform.cli("marketplace").stdout
    assert "postgresql" in market and "redis" in market and "shared" in market

    pushed = platform.cli("push", "-p", str(EXAMPLES / APP))  # a hang: stacks in the log
    assert "Bound service demo-db" in pushed.stdout, pushed.stdout
    services = json.loads(platform.cli("services", "--json").stdout)
    by_name = {s["name"]: s for s in services}
    assert by_name["demo-db"]["offering"] == "postgresql"
    assert by_name["demo-db"]["plan"] == "shared"
    assert by_name["demo-cache"]["offering"] == "redis"
    assert by_name["demo-db"]["apps"] == [APP]

    assert call(platform, "GET", "/services") == {
        "postgresql": ["demo-db"],
        "redis": ["demo-cache"],
    }
    for text in ("first", "second"):
        call(platform, "POST", "/notes", text)
    assert call(platform, "POST", "/counter")["counter"] == 1
    assert call(platform, "POST", "/counter")["counter"] == 2

    # Backup, drop the table, restore: the rows are back.
    db_backup = backup_id(platform.cli("service-backup", "demo-db").stdout)
    call(platform, "DELETE", "/notes")
    assert call(platform, "GET", "/notes") == {"notes": []}
    platform.cli("service-restore", "demo-db", db_backup)
    assert call(platform, "GET", "/notes") == {"notes": ["first", "second"]}
    listed = json.loads(platform.cli("service-backups", "demo-db", "--json").stdout)
    assert [(b["guid"], b["state"], b["restore"]["state"]) for b in listed] == [
        (db_backup, "READY", "SUCCEEDED")
    ]

    cache_backup = backup_id(platform.cli("service-backup", "demo-cache").stdout)
    call(platform, "DELETE", "/counter")
    assert call(platform, "GET", "/counter") == {"counter": 0}
    platform.cli("service-restore", "demo-cache", cache_backup)
    assert call(platform, "GET", "/counter") == {"counter": 2}

    # The data plane outlives the control plane: a server restart keeps data and servers.
    platform.stop_server()
    platform.start()
    assert call(platform, "GET", "/notes") == {"notes": ["first", "second"]}
    assert call(platform, "GET", "/counter") == {"counter": 2}

    # Deleting a bound service is refused; once unbound it goes, with its data.
    platform.cli("create-service-key", "demo-db", "laptop")
    key = json.loads(platform.cli("service-key", "demo-db", "laptop").stdout)
    with psycopg.connect(key["uri"], connect_timeout=5) as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone() == (2,)
    refused = platform.cli("delete-service", "demo-db", "-f", check=False)
    assert refused.returncode == 1
    assert "bound to services-demo" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    platform.cli("delete-service-key", "demo-db", "laptop")
    platform.cli("unbind-service", APP, "demo-db")
    platform.cli("delete-service", "demo-db", "-f")
    assert "demo-db" not in platform.cli("services").stdout
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(key["uri"], connect_timeout=5).close()


def test_third_party_broker_and_syslog_drain(platform: Platform) -> None:
    if "services-demo" not in platform.cli("apps").stdout:
        pytest.skip("needs the app pushed by the test before")
    with thirdparty_broker() as broker:
        platform.cli("create-service-broker", "kv", broker.username, broker.password, broker.url)
        assert "keyvalue-store" in platform.cli("marketplace").stdout
        created = platform.cli("create-service", "keyvalue-store", "async", "kvs")
        assert "is ready" in created.stdout
        platform.cli("bind-service", APP, "kvs", "--restart", timeout=300)
        assert call(platform, "GET", "/services")["keyvalue-store"] == ["kvs"]

        receiver = Receiver()
        try:
            platform.cli(
                "create-user-provided-service",
                "drain",
                "-l",
                f"syslog://127.0.0.1:{receiver.port}",
            )
            platform.cli("bind-service", APP, "drain", "--restart", timeout=300)
            call(platform, "POST", "/log", "a line for the drain")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if any("a line for the drain" in m for m in receiver.messages()):
                    break
                time.sleep(0.2)
            drained = [m for m in receiver.messages() if "a line for the drain" in m]
            assert drained and drained[0].startswith("<14>1 ")
        finally:
            receiver.close()
        platform.cli("unbind-service", APP, "kvs")
        platform.cli("delete-service", "kvs", "-f")
        assert broker.broker.calls.deprovisions
