"""`yun logs` as users read it: filters, a trace followed across apps, and a live tail that
never holds an app back."""

from __future__ import annotations

import json
import re
import secrets
import socket
import time
from pathlib import Path

import httpx
import pytest
from tests.e2e.conftest import Platform, push_observed

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def observed(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Two copies of a Procfile app (`web: python app.py`) that log each request's trace."""
    folder = tmp_path_factory.mktemp("observed")
    for name in ("observed", "observed-back"):
        push_observed(platform, folder, name)
    return "observed"


def recent(platform: Platform, *args: str) -> list[str]:
    return platform.cli("logs", *args, "--recent").stdout.splitlines()


def wait_lines(platform: Platform, args: tuple[str, ...], want, timeout: float = 20) -> list[str]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        lines = recent(platform, *args)
        if want(lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.3)


def test_a_trace_is_followed_across_apps_by_its_id(platform: Platform, observed: str) -> None:
    trace = secrets.token_hex(16)
    back = f"http://127.0.0.1:{platform.router_port}/from-front"
    answer = httpx.get(
        f"http://127.0.0.1:{platform.router_port}/call",
        params={"to": back, "host": "observed-back.apps.localhost"},
        headers={"Host": "observed.apps.localhost", "traceparent": f"00-{trace}-{'ab' * 8}-01"},
        timeout=10,
    )
    assert answer.text == "called: observed\n"

    for app, path in (("observed", "/call"), ("observed-back", "/from-front")):
        lines = wait_lines(
            platform, (app, "--grep", trace), lambda found: len(found) == 2, timeout=20
        )
        kinds = sorted(line.split(" ", 2)[1] for line in lines)
        assert kinds == ["[APP/PROC/WEB/0]", "[RTR/0]"], lines
        assert all(trace in line for line in lines)
        assert any(f'"GET {path}' in line and f'trace_id:"{trace}"' in line for line in lines)


def test_filters_by_source_instance_and_time(platform: Platform, observed: str) -> None:
    platform.get(observed, "/filtered")
    lines = wait_lines(platform, (observed, "--source", "rtr"), lambda found: found)

    assert lines and all(" [RTR/0] " in line for line in lines), lines
    both = recent(platform, observed, "--source", "STG,APP")
    assert {line.split(" ", 2)[1].split("/")[0] for line in both} == {"[STG", "[APP"}
    of_zero = recent(platform, observed, "--instance", "0", "--grep", "/filtered")
    assert len(of_zero) == 2  # its own line and the router's line of the request it served
    assert recent(platform, observed, "--instance", "1") == []  # there is one instance
    assert recent(platform, observed, "--since", "2099-01-01T00:00") == []
    assert recent(platform, observed, "--since", "1h", "--source", "STG")  # staged just now
    as_json = json.loads(
        platform.cli("logs", observed, "--recent", "--json", "--grep", "/filtered").stdout
    )
    assert {line["source"] for line in as_json} == {"RTR/0", "APP/PROC/WEB/0"}


def test_a_wrong_filter_is_one_error_naming_the_option(platform: Platform, observed: str) -> None:
    for args, named in (
        (("--source", "WEB"), "--source"),
        (("--grep", "(unclosed"), "--grep"),
        (("--since", "yesterday"), "since"),
        (("--instance", "-1"), "--instance"),
    ):
        result = platform.cli("logs", observed, "--recent", *args, check=False)
        assert result.returncode != 0, args
        assert named in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_slow_reader_gets_a_dropped_marker_and_never_slows_the_app(
    platform: Platform, observed: str
) -> None:
    guid = json.loads(platform.cli("app", observed, "--json").stdout)["guid"]
    config = json.loads((Path(platform.env["YUN_CONFIG_DIR"]) / "config.json").read_text())
    reader = socket.socket()
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a reader that takes little
    reader.connect(("127.0.0.1", platform.api_port))
    reader.sendall(
        f"GET /v3/apps/{guid}/logs/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {config['token']}\r\n\r\n".encode()
    )
    try:
        time.sleep(0.5)  # the stream is open and has read to the end
        platform.get(observed, "/spew?n=100000")  # 16 MB of output, while nobody reads it

        done = wait_lines(
            platform, (observed, "--grep", "spew done"), lambda found: found, timeout=120
        )
        assert done and "spew done: 100000 lines" in done[0], done  # the app went on writing

        reader.settimeout(10)
        seen, found = b"", None
        while found is None:
            chunk = reader.recv(1 << 20)
            assert chunk, "the stream ended"
            seen = seen[-4096:] + chunk
            found = re.search(rb'\n(\{"ts": [^\n]*"dropped": \d+\})\n', seen)
        marker = json.loads(found.group(1))
        assert marker["source"] == "LOG" and marker["dropped"] > 1000
        assert f"{marker['dropped']} lines dropped" in marker["message"]
    finally:
        reader.close()
