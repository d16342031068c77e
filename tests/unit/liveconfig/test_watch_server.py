"""The live configuration watch endpoint over real TLS: an instance certificate from the
platform CA gets its own app's configuration and a stream of its changes; no certificate,
or one from another CA, gets nothing."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from yun.agent.live_config import LiveConfig
from yun.liveconfig import ConfigWatchServer, app_of
from yun.tls import InstanceOwner, PlatformCA, ensure_ca, issue_instance


@pytest.fixture
def ca(tmp_path: Path) -> PlatformCA:
    return ensure_ca(tmp_path / "tls")


@pytest.fixture
def configs() -> dict[str, LiveConfig]:
    return {"shop": LiveConfig("s0.a1", {"COLOR": "blue"}), "bank": LiveConfig("s0.a1", {"X": "1"})}


@pytest.fixture
def server(ca: PlatformCA, configs: dict[str, LiveConfig]) -> Iterator[ConfigWatchServer]:
    watch = ConfigWatchServer(
        bind="127.0.0.1", port=0, ca=ca, config_of=lambda app: configs.get(app, LiveConfig())
    )
    watch.start()
    yield watch
    watch.stop()


def client_context(ca: PlatformCA, tmp_path: Path, app: str) -> ssl.SSLContext:
    owner = InstanceOwner(instance_guid=f"{app}-0", app_guid=app, space_guid="s", org_guid="o")
    bundle = issue_instance(ca, owner).bundle
    path = tmp_path / f"{app}.pem"
    path.write_text(bundle)
    context = ssl.create_default_context(cadata=ca.pem)
    context.load_cert_chain(path)
    return context


def get(server: ConfigWatchServer, context: ssl.SSLContext, path: str) -> tuple[int, str]:
    conn = http.client.HTTPSConnection(server.bind, server.port, context=context, timeout=5)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


def test_an_instance_gets_its_own_apps_configuration(
    server: ConfigWatchServer, ca: PlatformCA, tmp_path: Path
) -> None:
    status, body = get(server, client_context(ca, tmp_path, "shop"), "/config")
    assert status == 200 and json.loads(body) == {"version": "s0.a1", "values": {"COLOR": "blue"}}
    status, body = get(server, client_context(ca, tmp_path, "bank"), "/config")
    assert json.loads(body)["values"] == {"X": "1"}
    assert get(server, client_context(ca, tmp_path, "shop"), "/other")[0] == 404


def test_without_a_platform_certificate_nothing_is_served(
    server: ConfigWatchServer, ca: PlatformCA, tmp_path: Path
) -> None:
    bare = ssl.create_default_context(cadata=ca.pem)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        get(server, bare, "/config")
    stranger = ensure_ca(tmp_path / "other")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        context = client_context(stranger, tmp_path, "shop")
        context.load_verify_locations(cadata=ca.pem)
        get(server, context, "/config")


def test_the_stream_sends_each_change_as_it_happens(
    server: ConfigWatchServer,
    ca: PlatformCA,
    tmp_path: Path,
    configs: dict[str, LiveConfig],
) -> None:
    conn = http.client.HTTPSConnection(
        server.bind, server.port, context=client_context(ca, tmp_path, "shop"), timeout=10
    )
    conn.request("GET", "/config/watch")
    answer = conn.getresponse()
    assert answer.status == 200 and answer.getheader("Content-Type") == "text/event-stream"
    events: list[tuple[float, dict[str, object]]] = []

    def read() -> None:
        for raw in answer:
            line = raw.decode().strip()
            if line.startswith("data: "):
                events.append((time.monotonic(), json.loads(line[6:])))
            if len(events) == 2:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 5
    while not events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert events and events[0][1]["values"] == {"COLOR": "blue"}  # the current one first
    configs["shop"] = LiveConfig("s0.a2", {"COLOR": "green"})
    changed_at = time.monotonic()
    server.changed(["bank"])  # another app's change: nothing for this stream
    server.changed(["shop"])
    reader.join(5)
    conn.close()
    assert len(events) == 2 and events[1][1] == {"version": "s0.a2", "values": {"COLOR": "green"}}
    assert events[1][0] - changed_at < 2.0


def test_app_of_reads_the_app_unit() -> None:
    peer = {
        "subject": (
            (("organizationalUnitName", "space:s"),),
            (("organizationalUnitName", "app:a1"),),
        )
    }
    assert app_of(peer) == "a1"
    assert app_of({"subject": ((("commonName", "x"),),)}) is None
    assert app_of(None) is None
