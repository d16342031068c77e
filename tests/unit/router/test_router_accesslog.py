"""Parsing the access log datagrams HAProxy sends in Yun's log format."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from yun.router import AccessLogReceiver, parse_line
from yun.router.accesslog import LOG_FORMAT

# Captured from HAProxy 2.6 running a rendered config (the user agent holds quotes, a backslash
# and a bracket; the URI held a double quote, which HAProxy encodes as #22).
SERVED = (
    b"<134>1 2026-11-22T02:32:08.853951+00:00 - yun-router 17254 - - yunrtr1 be_guid:201 idx-0"
    b' my:20app:20:e2:98:83 1795314728852 200 118 116 1 GET "/p?q=#221" HTTP/1.1'
    b' "hello.apps.localhost" "127.0.0.1" "rid 1" "ua \\"quoted\\" \\\\ back\\]"'
    b" 127.0.0.1:42370 127.0.0.1:37413 --\n"
)
UNKNOWN = (
    b"<134>1 2026-11-22T02:32:08.866074+00:00 - yun-router 17254 - - yunrtr1 yun_unknown_route"
    b' <NOSRV> - 1795314728865 404 86 195 0 GET "/" HTTP/1.1 "nope.apps.localhost" "127.0.0.1"'
    b' "b92ae95a-8d5c-4f90-860f-23e69a6aada4" "curl/7.88.1" 127.0.0.1:42386 -:- LR\n'
)


def test_parses_a_served_request():
    record = parse_line(SERVED)

    assert record is not None
    assert (record.backend, record.app_name, record.instance) == ("guid 1", "my app ☃", "idx-0")
    assert (record.method, record.uri, record.http_version) == ("GET", "/p?q=#221", "HTTP/1.1")
    assert (record.status, record.bytes_received, record.bytes_sent) == (200, 118, 116)
    assert record.duration_ms == 1
    assert record.start == pytest.approx(1795314728.852)
    assert record.host == "hello.apps.localhost"
    assert record.x_forwarded_for == "127.0.0.1"
    assert record.x_request_id == "rid 1"
    assert record.user_agent == 'ua "quoted" \\ back]'
    assert (record.client, record.upstream) == ("127.0.0.1:42370", "127.0.0.1:37413")


def test_text_reads_like_a_cloud_foundry_rtr_line():
    record = parse_line(SERVED)

    assert record is not None
    assert record.text == (
        'hello.apps.localhost - [2026-11-22T02:32:08.852+0000] "GET /p?q=#221 HTTP/1.1" 200 118 116'
        ' "ua "quoted" \\ back]" "127.0.0.1:42370" "127.0.0.1:37413"'
        ' x_forwarded_for:"127.0.0.1" x_request_id:"rid 1" response_time_ms:1'
        ' app:"my app ☃" instance:"idx-0" termination:"--"'
    )


def test_unrouted_request_has_no_backend_app_or_instance():
    record = parse_line(UNKNOWN)

    assert record is not None
    assert (record.backend, record.app_name, record.instance, record.upstream) == ("", "", "", "")
    assert record.status == 404
    assert record.termination == "LR"


@pytest.mark.parametrize(
    "header",
    [b"", b"<134>Nov 22 02:32:08 yun-router[17254]: ", b"<134>1 2026-11-22T02:32:08Z h a 1 - - "],
)
def test_accepts_raw_rfc3164_and_rfc5424_framing(header):
    message = SERVED[SERVED.index(b"yunrtr1") :]

    record = parse_line(header + message)

    assert record is not None and record.backend == "guid 1"


@pytest.mark.parametrize(
    "datagram",
    [
        b"<133>1 2026-11-22T02:32:08Z - yun-router 1 - - Proxy yun_http started.",
        b"yunrtr1 too few fields",
        b"",
        b"\xff\xfe garbage",
    ],
)
def test_other_datagrams_are_ignored(datagram):
    assert parse_line(datagram) is None


def test_log_format_has_one_field_per_parsed_value():
    assert LOG_FORMAT.startswith("yunrtr1 %b %s ")
    assert len(LOG_FORMAT.split()) == 19


def test_receiver_calls_back_per_access_line_and_stops_cleanly(tmp_path: Path):
    got: list[tuple[str, str, str]] = []
    arrived = threading.Event()

    def on_line(backend: str, app: str, text: str) -> None:
        got.append((backend, app, text))
        arrived.set()

    path = tmp_path / "log.sock"
    with AccessLogReceiver(path, on_line):
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"<134>1 - - - - - - not ours", str(path))
            sender.sendto(SERVED, str(path))
        assert arrived.wait(5)

    assert [(b, a) for b, a, _ in got] == [("guid 1", "my app ☃")]
    assert got[0][2].startswith("hello.apps.localhost - [")
    assert not path.exists()


def test_receiver_survives_a_failing_callback(tmp_path: Path, caplog):
    calls: list[int] = []
    second = threading.Event()

    def on_line(backend: str, app: str, text: str) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        second.set()

    path = tmp_path / "log.sock"
    with AccessLogReceiver(path, on_line), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(SERVED, str(path))
        s.sendto(SERVED, str(path))
        assert second.wait(5)

    assert len(calls) == 2
    assert "access log callback failed" in caplog.text
