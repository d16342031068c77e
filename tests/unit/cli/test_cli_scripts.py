"""Output a script can read: the real `yun` CLI, stdout piped, against the real API.

A real API server (the FastAPI app on a SQLite store, served by uvicorn on a free port) holds an
app with a long name, an app whose instances have container addresses and one long crash event,
log lines stored out of time order, a route and a user-provided service with a key. The CLI runs
as a user runs it, in a subprocess whose stdout is a pipe.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from tests.helpers import free_port

from yun.api.app import create_app
from yun.api.context import ApiContext
from yun.blobstore import BlobStore
from yun.logstore import LogStore
from yun.settings import Settings
from yun.store import events
from yun.store.bootstrap import bootstrap
from yun.store.models import App, Instance
from yun.store.session import Store

YUN = str(Path(sys.executable).parent / "yun")
LONG_NAME = "inventory-reconciliation-service-for-the-northern-warehouses"  # 60 characters
OOM = (
    "the kernel stopped the instance: out of memory (the cgroup's memory.max of 268435456 bytes"
    " was reached while the app allocated a 512 MiB buffer for the nightly export)"
)
BOX = set("│─┃━┏┓┗┛╭╮╰╯")


@dataclass
class Platform:
    url: str
    env: dict[str, str]

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [YUN, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)


def _client_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUN_")}
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS", "LINES"):
        env.pop(name, None)  # as a script runs it: whatever width Rich would guess, 80
    env["YUN_CONFIG_DIR"] = str(tmp / "cfg")
    return env


def _fill(store: Store, logs: LogStore, http: httpx.Client) -> None:
    http.post("/v3/apps/push", json={"application": {"name": LONG_NAME}}).raise_for_status()
    demo = http.post("/v3/apps/push", json={"application": {"name": "demo", "instances": 2}}).json()
    process = demo["processes"][0]["guid"]
    with store.session() as session:
        for index, address in ((0, "10.244.0.123"), (1, "10.244.0.124")):
            session.add(
                Instance(
                    process_guid=process,
                    app_guid=demo["guid"],
                    index=index,
                    instance_guid=f"guid-{index}",
                    state="RUNNING" if index == 0 else "CRASHED",
                    address=address,
                    port=8080,
                    driver="runc",
                    reason=None if index == 0 else OOM,
                )
            )
        events.record(
            session,
            type="app.crash",
            app=session.get(App, demo["guid"]),
            data={"process_type": "web", "index": 1, "exit_status": 137, "reason": OOM},
        )
    now = time.time()
    for offset, source, message in (
        (-3.0, "APP/PROC/WEB/0", "first: listening on 8080"),
        (-1.0, "APP/PROC/WEB/0", "third: request handled"),
        (-2.0, "RTR", "second: GET / 200 (the router writes after the response)"),
        (-0.5, "CELL/0", "fourth: instance 1 exited"),
    ):
        logs.append(demo["guid"], source, message, ts=now + offset)
    service = http.post(
        "/v3/service_instances",
        json={
            "name": "ledger-db",
            "type": "user-provided",
            "credentials": {"uri": "postgres://ledger:secret@db.internal:5432/ledger"},
            "tags": ["db"],
        },
    ).json()
    http.post(
        "/v3/service_bindings",
        json={"type": "key", "service_instance": service["guid"], "name": "reporting-key"},
    ).raise_for_status()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("platform")
    settings = Settings(home=home, admin_password="pw")
    store = Store(settings.db_url)
    store.migrate()
    defaults = bootstrap(store, home=home, domain="apps.localhost", admin_password="pw")
    logs = LogStore(home / "logs")
    ctx = ApiContext(
        settings=settings,
        store=store,
        blobs=BlobStore(home / "blobs"),
        logs=logs,
        defaults=defaults,
        wake=lambda key: None,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        platform = Platform(url=url, env=_client_env(home))
        platform.cli("login", "-a", url, "-u", "admin", "-p", "pw")
        token = json.loads((home / "cfg" / "config.json").read_text())["token"]
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
            _fill(store, logs, http)
        yield platform
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        store.close()


def _row(output: str, *needles: str) -> str:
    """The one line holding every needle; fails when the values are split over lines."""
    found = [line for line in output.splitlines() if all(n in line for n in needles)]
    assert len(found) == 1, f"no single line holds {needles}:\n{output}"
    return found[0]


def _columns(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def _plain_text(output: str) -> None:
    assert not BOX & set(output), output
    assert "…" not in output and "..." not in output, output


def test_events_piped_keep_a_long_message_on_its_row(platform: Platform) -> None:
    shown = platform.cli("events", "demo").stdout
    _plain_text(shown)
    assert _columns(shown.splitlines()[0]) == ["time", "event", "actor", "description"]
    row = _row(shown, "out of memory")
    assert len(row) > 120 and OOM in row
    assert _columns(row)[1:] == [
        "app.crash",
        "yun",
        f"process_type: web, index: 1, exit_status: 137, reason: {OOM}",
    ]
    grepped = subprocess.run(
        ["grep", "out of memory"], input=shown, capture_output=True, text=True, check=True
    ).stdout
    assert OOM in grepped


def test_app_piped_shows_instance_addresses_in_full(platform: Platform) -> None:
    shown = platform.cli("app", "demo").stdout
    _plain_text(shown)
    header = _row(shown, "#", "state", "address")
    assert _columns(header) == [
        "#",
        "state",
        "since",
        "address",
        "driver",
        "memory",
        "disk",
        "crashes",
        "details",
    ]
    running = _columns(_row(shown, "10.244.0.123:8080"))
    assert running[:2] == ["0", "running"] and running[3:5] == ["10.244.0.123:8080", "runc"]
    crashed = _columns(_row(shown, "10.244.0.124:8080"))
    assert crashed[:2] == ["1", "crashed"] and crashed[-1] == OOM


def test_apps_piped_keep_a_long_name_and_its_route_on_one_row(platform: Platform) -> None:
    shown = platform.cli("apps").stdout
    _plain_text(shown)
    lines = shown.splitlines()
    assert _columns(lines[0]) == ["name", "state", "processes", "routes"]
    row = _columns(_row(shown, LONG_NAME))
    assert row == [LONG_NAME, "stopped", "web:0/1", f"http://{LONG_NAME}.apps.localhost:8080/"]
    assert _columns(_row(shown, "demo.apps"))[0] == "demo"
    assert len(lines) == 3


def test_other_listings_piped_are_whole_rows(platform: Platform) -> None:
    routes = platform.cli("routes").stdout
    _plain_text(routes)
    assert _columns(_row(routes, LONG_NAME + ".apps.localhost"))[:2] == [
        f"{LONG_NAME}.apps.localhost",
        LONG_NAME,
    ]
    services = platform.cli("services").stdout
    assert _columns(services.splitlines()[0]) == [
        "name",
        "offering",
        "plan",
        "bound apps",
        "last operation",
    ]
    assert _columns(_row(services, "ledger-db"))[:2] == ["ledger-db", "user-provided"]
    keys = platform.cli("service-keys", "ledger-db").stdout
    assert _columns(keys.splitlines()[0]) == ["key", "last operation"]
    assert _columns(_row(keys, "reporting-key"))[0] == "reporting-key"


def test_a_terminal_still_gets_the_fitted_table(platform: Platform) -> None:
    """On a terminal 80 columns wide the same listing is Rich's table: long values wrap."""
    main, child = pty.openpty()
    env = {**platform.env, "COLUMNS": "80", "LINES": "40"}
    with subprocess.Popen(
        [YUN, "events", "demo"], env=env, stdout=child, stderr=subprocess.PIPE
    ) as process:
        os.close(child)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=60) == 0
    os.close(main)
    shown = re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode())
    lines = shown.splitlines()
    assert all(len(line) <= 80 for line in lines), shown
    assert "out of memory" in shown, shown
    assert not any(OOM in line for line in lines), shown


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (("apps",), list),
        (("app", "demo"), dict),
        (("events", "demo"), list),
        (("logs", "demo", "--recent"), list),
        (("routes",), list),
        (("services",), list),
        (("service", "ledger-db"), dict),
        (("service-keys", "ledger-db"), list),
        (("service-brokers",), list),
        (("marketplace",), list),
        (("revisions", "demo"), list),
        (("deployments", "demo"), list),
        (("env", "demo"), dict),
        (("autoscale", "demo"), dict),
        (("target",), dict),
    ],
)
def test_every_listing_has_json(platform: Platform, args: tuple[str, ...], kind: type) -> None:
    assert isinstance(platform.json(*args), kind)


def test_json_carries_the_full_values(platform: Platform) -> None:
    (crash,) = [e for e in platform.json("events", "demo") if e["type"] == "app.crash"]
    assert crash["data"]["reason"] == OOM
    (web,) = platform.json("app", "demo")["processes"]
    assert {(i["address"], i["port"]) for i in web["instance_details"]} == {
        ("10.244.0.123", 8080),
        ("10.244.0.124", 8080),
    }
    (key,) = platform.json("service-keys", "ledger-db")
    assert key["name"] == "reporting-key"
    assert key["credentials"]["uri"] == "postgres://ledger:secret@db.internal:5432/ledger"
    assert platform.json("target") == {
        "api": platform.url,
        "user": "admin",
        "org": "main",
        "space": "dev",
    }


def test_recent_logs_come_in_time_order(platform: Platform) -> None:
    order = ["first", "second", "third", "fourth"]
    lines = platform.cli("logs", "demo", "--recent").stdout.splitlines()
    assert [line.split("] ", 1)[1].split(":")[0] for line in lines] == order
    stamps = [line.split(" ", 1)[0] for line in lines]
    assert stamps == sorted(stamps)
    as_json = platform.json("logs", "demo", "--recent")
    assert [line["message"].split(":")[0] for line in as_json] == order
    assert [line["source"] for line in as_json] == [
        "APP/PROC/WEB/0",
        "RTR",
        "APP/PROC/WEB/0",
        "CELL/0",
    ]


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (("delete", "demo"), "the app demo"),
        (("delete-service", "ledger-db"), "the service ledger-db and its data"),
        (("delete-user", "admin"), "the user admin"),
    ],
)
def test_a_delete_without_a_terminal_needs_f_and_deletes_nothing(
    platform: Platform, args: tuple[str, ...], what: str
) -> None:
    refused = platform.cli(*args, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"error: no terminal to confirm deleting {what} on; add -f to delete without asking"
    )
    assert "demo" in platform.cli("apps").stdout and "ledger-db" in platform.cli("services").stdout
