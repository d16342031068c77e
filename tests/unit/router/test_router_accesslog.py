"""Parsing the access lines HAProxy logs in Yun's format, and streaming them off its ring.

The receiver is driven here against a fake stats socket that speaks just enough of HAProxy's
CLI (`show info`, `show info;show events <ring> -w [-n]`) for the test to decide what each
stream carries and when it ends; tests/integration/router runs it against a real HAProxy.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from yun.router import AccessLogReceiver, parse_line
from yun.router.accesslog import ACCESS_RING, LOG_FORMAT

# Captured from HAProxy 2.6 running a rendered config: HAProxy writes the RTR text itself. The
# user agent holds quotes, a backslash and a bracket (escaped, +E); the URI held double quotes,
# which HAProxy encodes as #22.
SERVED = (
    b"<134>1 2026-11-22T04:07:07.230714+00:00 - yun-router 8968 - - yunrtr2 be_guid:201"
    b" my:20app:20:e2:98:83 idx-0 -- h.apps.localhost - [2026-11-22T04:07:07.229+0000]"
    b' "GET /p?q=#22x_request_id:#22fake#22 HTTP/1.1" 200 161 448'
    b' "x\\" x_request_id:\\"fake\\" app:\\"evil\\\\ \\]" "127.0.0.1:58222" "127.0.0.1:45983"'
    b' x_forwarded_for:"127.0.0.1" x_request_id:"real" response_time_ms:1\n'
)
UNKNOWN = (
    b"<134>1 2026-11-22T02:32:08.866074+00:00 - yun-router 17254 - - yunrtr2 yun_unknown_route"
    b' - <NOSRV> LR nope.apps.localhost - [2026-11-22T02:32:08.865+0000] "GET / HTTP/1.1" 404'
    b' 86 195 "curl/7.88.1" "127.0.0.1:42386" "-:-" x_forwarded_for:"127.0.0.1"'
    b' x_request_id:"b92ae95a-8d5c-4f90-860f-23e69a6aada4" response_time_ms:0\n'
)


def test_reads_backend_app_and_instance_of_a_served_request():
    record = parse_line(SERVED)

    assert record is not None
    assert (record.backend, record.app_name, record.instance) == ("guid 1", "my app ☃", "idx-0")


def test_text_reads_like_a_cloud_foundry_rtr_line():
    record = parse_line(SERVED)

    assert record is not None
    assert record.text == (
        "h.apps.localhost - [2026-11-22T04:07:07.229+0000]"
        ' "GET /p?q=#22x_request_id:#22fake#22 HTTP/1.1" 200 161 448'
        ' "x\\" x_request_id:\\"fake\\" app:\\"evil\\\\ \\]" "127.0.0.1:58222" "127.0.0.1:45983"'
        ' x_forwarded_for:"127.0.0.1" x_request_id:"real" response_time_ms:1'
        ' app:"my app ☃" instance:"idx-0" termination:"--"'
    )


def test_unrouted_request_has_no_backend_app_or_instance():
    record = parse_line(UNKNOWN)

    assert record is not None
    assert (record.backend, record.app_name, record.instance) == ("", "", "")
    assert ' "GET / HTTP/1.1" 404 ' in record.text
    assert record.text.endswith(' app:"-" instance:"-" termination:"LR"')


@pytest.mark.parametrize(
    "header",
    [
        b"",
        b"<134>Nov 22 02:32:08 yun-router[17254]: ",
        b"<134>1 2026-11-22T02:32:08Z h a 1 - - ",
        b'<134>1 2026-11-22T02:32:08Z h a 1 - [sd x="a b"] ',
    ],
)
def test_accepts_raw_rfc3164_and_rfc5424_framing(header):
    message = SERVED[SERVED.index(b"yunrtr2") :]

    record = parse_line(header + message)

    assert record is not None and record.backend == "guid 1"
    assert record.text.startswith("h.apps.localhost - [")


@pytest.mark.parametrize(
    "datagram",
    [
        b"<133>1 2026-11-22T02:32:08Z - yun-router 1 - - Proxy yun_http started.",
        b"yunrtr1 be_x app idx-0 -- an older format",
        b"yunrtr2 too few fields",
        b"",
        b"\xff\xfe garbage",
    ],
)
def test_other_datagrams_are_ignored(datagram):
    assert parse_line(datagram) is None


def test_log_format_leads_with_the_fields_the_receiver_reads():
    assert LOG_FORMAT.startswith(
        "yunrtr2 %b %[var(txn.yun_app)] %s %ts %{+E}[var(txn.yun_host)] - ["
    )
    # Every value a client controls is escaped, and quoted where the RTR line quotes it.
    for var in ("txn.yun_ua", "txn.yun_xff", "txn.yun_rid"):
        assert f"%{{+Q,+E}}[var({var})]" in LOG_FORMAT
    assert LOG_FORMAT.endswith(" response_time_ms:%Ta")


class FakeStatsSocket:
    """A stats socket whose `show events` streams the test writes into by hand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pid = 100
        self.commands: list[str] = []
        self.streams: queue.Queue[socket.socket] = queue.Queue()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(16)
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            command = b""
            while not command.endswith(b"\n") and (chunk := conn.recv(1024)):
                command += chunk
            self.commands.append(command.decode().strip())
            conn.sendall(f"Name: HAProxy\nPid: {self.pid}\nUptime_sec: 1\n\n".encode())
            if command.startswith(b"show info;show events"):
                self._open.append(conn)
                self.streams.put(conn)
            else:
                conn.close()

    def next_stream(self, timeout: float = 5.0) -> socket.socket:
        return self.streams.get(timeout=timeout)

    def stream_commands(self) -> list[str]:
        return [c for c in self.commands if "show events" in c]

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() in _serve
        self._listener.close()
        for conn in self._open:
            conn.close()
        self._thread.join()


@pytest.fixture
def stats(tmp_path: Path) -> Iterator[FakeStatsSocket]:
    fake = FakeStatsSocket(tmp_path / "stats.sock")
    yield fake
    fake.close()


Lines = list[tuple[str, str, str]]


@pytest.fixture
def receive(stats: FakeStatsSocket) -> Iterator[Callable[..., tuple[AccessLogReceiver, Lines]]]:
    """receive(on_lines=None) → a started receiver on the fake socket, and the lines it got."""
    started: list[AccessLogReceiver] = []

    def start(
        on_lines: Callable[[Lines], None] | None = None,
    ) -> tuple[AccessLogReceiver, Lines]:
        got: Lines = []
        receiver = AccessLogReceiver(stats.path, on_lines or got.extend)
        receiver.start()
        started.append(receiver)
        return receiver, got

    yield start
    for receiver in started:
        receiver.stop()


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_lines_split_across_chunks_are_delivered_whole_and_once(stats, receive):
    _, got = receive()
    stream = stats.next_stream()
    notice = b"<133>1 2026-11-22T02:32:08Z - yun-router 1 - - Proxy yun_http started.\n"
    data = notice + SERVED + UNKNOWN + SERVED

    for cut in (5, len(notice) + 40, len(notice) + len(SERVED) + 1, len(data) - 1):
        stream.sendall(data[:cut])
        data = data[cut:]
        time.sleep(0.02)
    stream.sendall(data)

    assert wait_for(lambda: len(got) == 3)
    assert [backend for backend, _, _ in got] == ["guid 1", "", "guid 1"]
    assert got[0][2].startswith("h.apps.localhost - [")


def test_first_stream_skips_old_lines_and_a_new_worker_is_read_whole(stats, receive):
    receiver, got = receive()
    old = stats.next_stream()
    old.sendall(SERVED)
    assert wait_for(lambda: len(got) == 1)

    stats.pid = 101  # a reload: a new worker answers now
    receiver.reconnect()
    new = stats.next_stream()
    new.sendall(UNKNOWN)
    old.sendall(SERVED)  # the old worker finishing a request it had in flight

    assert wait_for(lambda: len(got) == 3)
    assert stats.stream_commands() == [
        f"show info;show events {ACCESS_RING} -w -n",
        f"show info;show events {ACCESS_RING} -w",
    ]


def test_reconnect_to_the_worker_already_read_keeps_the_stream(stats, receive):
    receiver, got = receive()
    stream = stats.next_stream()
    asked = len(stats.commands)

    receiver.reconnect()

    assert wait_for(lambda: len(stats.commands) > asked)  # it asked which worker serves
    time.sleep(0.1)
    stream.sendall(SERVED)
    assert wait_for(lambda: len(got) == 1)
    assert len(stats.stream_commands()) == 1


@pytest.mark.parametrize(("pid", "skip_old"), [(100, True), (101, False)])
def test_a_stream_that_ends_is_reopened(stats, receive, pid, skip_old):
    _, got = receive()
    stats.next_stream().close()
    stats.pid = pid

    stream = stats.next_stream()
    stream.sendall(SERVED)

    assert wait_for(lambda: len(got) == 1)
    assert stats.stream_commands()[-1].endswith(" -n") == skip_old


def test_waits_for_haproxy_and_reads_its_ring_whole(tmp_path, receive_on):
    _, got = receive_on(tmp_path / "stats.sock")
    time.sleep(0.5)  # a few attempts find no socket

    stats = FakeStatsSocket(tmp_path / "stats.sock")
    try:
        stats.next_stream().sendall(SERVED)
        assert wait_for(lambda: len(got) == 1)
        # This HAProxy started after the receiver: everything in its ring is new.
        assert stats.stream_commands() == [f"show info;show events {ACCESS_RING} -w"]
    finally:
        stats.close()


@pytest.fixture
def receive_on() -> Iterator[Callable[[Path], tuple[AccessLogReceiver, Lines]]]:
    started: list[AccessLogReceiver] = []

    def start(path: Path) -> tuple[AccessLogReceiver, Lines]:
        got: Lines = []
        receiver = AccessLogReceiver(path, got.extend)
        receiver.start()
        started.append(receiver)
        return receiver, got

    yield start
    for receiver in started:
        receiver.stop()


@pytest.mark.parametrize("haproxy_up", [True, False], ids=["streaming", "retrying"])
def test_stop_is_prompt(tmp_path, stats, haproxy_up):
    path = stats.path if haproxy_up else tmp_path / "absent.sock"
    receiver = AccessLogReceiver(path, lambda batch: None)
    receiver.start()
    if haproxy_up:
        stats.next_stream()
    else:
        time.sleep(0.1)

    began = time.monotonic()
    receiver.stop()

    assert time.monotonic() - began < 0.5


def test_receiver_survives_a_failing_callback(stats, receive, caplog):
    calls: list[int] = []

    def on_lines(batch: Lines) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("boom")

    receive(on_lines)
    stream = stats.next_stream()
    stream.sendall(SERVED)
    assert wait_for(lambda: len(calls) == 1)
    stream.sendall(SERVED)

    assert wait_for(lambda: len(calls) == 2)
    assert "access log callback failed" in caplog.text
