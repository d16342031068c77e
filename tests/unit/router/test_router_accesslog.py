"""Sorting the access lines HAProxy logs in Yun's format by app, and streaming them off its ring.

The receiver is driven here against a fake stats socket that speaks just enough of HAProxy's
CLI (`show info`, `show info;show events <ring> -w [-n]`) for the test to decide what each
stream carries and when it ends; tests/integration/router runs it against a real HAProxy.
"""

from __future__ import annotations

import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from yun.logstore import LogStore, rtr
from yun.router import AccessLogReceiver, AppLines, split_by_app
from yun.router.accesslog import ACCESS_RING, LOG_FORMAT, RING_SIZE, _Session

APP = "0c5e2a4b-7d1f-4c3a-9b8e-6f2d1a0e5c47"
OTHER = "7d2b1a0c-5e4f-4a3b-8c2d-1e0f9a8b7c60"

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
# As HAProxy 2.6 writes them from a rendered config. The user agent held quotes, a backslash,
# a bracket and a snowman; the URI held quotes. The client sent a request id and a traceparent,
# no X-Forwarded-For.
SERVED = (
    f"yunrtr6 be_{APP}_web ".encode()
    + rb"1796406201002 1 200 165 467 127.0.0.1:46238 127.0.0.1:33815 idx-0 -- GET HTTP/1.1 - "
    + rb'"h.apps.localhost" "/p?q=\"x_request_id:\"fake\"" "x\" x_request_id:\"fake\" app:\"evil'
    + b'\\\\ \\] \xe2\x98\x83" "-" "real" "00-'
    + TRACE.encode()
    + b'-00f067aa0ba902b7-01"\n'
)
# The layout before: the values as the app got them, the trace id among the numbers.
SERVED_V5 = (
    f"yunrtr5 be_{APP}_web ".encode()
    + rb"1796406201002 1 200 165 467 127.0.0.1:46238 127.0.0.1:33815 idx-0 -- GET HTTP/1.1 "
    + TRACE.encode()
    + rb' "h.apps.localhost" "/p?q=\"x_request_id:\"fake\"" "x\" x_request_id:\"fake\" app:\"evil'
    + b'\\\\ \\] \xe2\x98\x83" "127.0.0.1" "real"\n'
)
MADE = "e9c30270-382c-44a2-9dfa-313dbef5c146"  # the router made the id and the trace
UNKNOWN = (
    b"yunrtr6 yun_unknown_route 1796406201004 0 404 79 195 127.0.0.1:46252 -:- <NOSRV> LR GET"
    b" HTTP/1.1 " + MADE.encode() + b' "nope.apps.localhost" "/" "-" "10.1.2.3" "-" "00-bad"\n'
)


def served(guid: str, path: str, backend_suffix: str = "_web") -> bytes:
    """A served record of app `guid` whose request named `path`."""
    line = SERVED.replace(f"be_{APP}_web".encode(), f"be_{guid}{backend_suffix}".encode())
    return line.replace(rb'"/p?q=\"x_request_id:\"fake\""', f'"{path}"'.encode())


def test_an_apps_records_are_kept_whole_and_read_as_rtr_lines(tmp_path: Path) -> None:
    by_app = split_by_app(SERVED)

    assert by_app == {APP: SERVED}
    logs = LogStore(tmp_path)
    logs.append_lines(APP, by_app[APP])
    [line] = logs.recent(APP)
    assert (line.ts, line.source) == (1796406201.002, "RTR/0")
    assert line.message == (
        "h.apps.localhost - [2026-12-04T17:43:21.002+0000]"
        ' "GET /p?q=\\"x_request_id:\\"fake\\" HTTP/1.1" 200 165 467'
        ' "x\\" x_request_id:\\"fake\\" app:\\"evil\\\\ ] ☃" "127.0.0.1:46238" "127.0.0.1:33815"'
        ' x_forwarded_for:"127.0.0.1" x_request_id:"real" response_time_ms:1'
        f' app_id:"{APP}" instance:"idx-0" termination:"--" trace_id:"{TRACE}"'
    )


def test_the_layout_before_still_reads_the_same() -> None:
    old = rtr.decode(SERVED_V5.rstrip(b"\n"), APP)
    new = rtr.decode(SERVED.rstrip(b"\n"), APP)
    assert old is not None and old == new


def test_what_the_router_added_is_made_again_from_the_record() -> None:
    decoded = rtr.decode(UNKNOWN.rstrip(b"\n"), APP)
    assert decoded is not None
    message = decoded[2]
    assert 'x_forwarded_for:"10.1.2.3, 127.0.0.1"' in message  # as the app got it
    assert f'x_request_id:"{MADE}"' in message
    assert f'trace_id:"{MADE.replace("-", "")}"' in message  # the client's was not valid


def test_lines_go_to_their_apps_in_order_and_others_are_left_out() -> None:
    notice = b"Proxy yun_http started.\n"
    lines = [served(APP, "/1"), UNKNOWN, served(OTHER, "/a", "_worker"), notice, served(APP, "/2")]

    by_app = split_by_app(b"".join(lines))

    assert by_app == {APP: lines[0] + lines[4], OTHER: lines[2]}


def test_a_chunk_of_many_apps_is_split_the_same_way() -> None:
    guids = [f"{n:08x}-7d1f-4c3a-9b8e-6f2d1a0e5c47" for n in range(40)]
    lines = [served(guid, f"/{turn}") for turn in range(3) for guid in guids]

    by_app = split_by_app(b"".join(lines))

    assert sorted(by_app) == sorted(guids)
    for guid in guids:
        assert by_app[guid].count(b"\n") == 3
        assert by_app[guid].index(b'"/0"') < by_app[guid].index(b'"/1"')


@pytest.mark.parametrize(
    "chunk",
    [
        b"Proxy yun_http started.\n",
        b"yunrtr3 be_" + APP.encode() + b' {"an": "older format"}\n',
        b"x yunrtr5 be_" + APP.encode() + b" 1 2 not at a line start\n",
        b"yunrtr5 be_short-id 1 2\n",
        b"yunrtr4 be_" + APP.encode() + b" 1 2 the layout before: HAProxy writes it no more\n",
        b"",
        b"\xff\xfe garbage\n",
    ],
)
def test_other_lines_are_ignored(chunk: bytes) -> None:
    assert split_by_app(chunk) == {}


def test_log_format_is_the_marker_the_backend_and_the_records_fields() -> None:
    marker, backend, *fields = LOG_FORMAT.split(" ")
    assert (marker, backend) == ("yunrtr6", "%b")
    assert fields[:2] == ["%[var(txn.yun_start)]", "%Ta"]  # where rtr.response_times looks
    # Every value a client controls is quoted and goes through HAProxy's escaping.
    client = fields[-6:]
    for fetch, value in zip(
        ("var(txn.yun_host)", "capture.req.uri", "capture.req.hdr(0)", "capture.req.hdr(1)"),
        client,
        strict=False,
    ):
        assert re.fullmatch(re.escape(f'"%{{+E}}[{fetch},bytes(0,') + r"\d+\)\]\"", value)


class FakeStatsSocket:
    """A stats socket whose `show events` streams the test writes into by hand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pid = 100
        self.stream_pids: list[int] = []  # which worker answers the next streams, if not `pid`
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
            streaming = command.startswith(b"show info;show events")
            pid = self.stream_pids.pop(0) if streaming and self.stream_pids else self.pid
            conn.sendall(f"Name: HAProxy\nPid: {pid}\nUptime_sec: 1\n\n".encode())
            if streaming:
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


Lines = list[AppLines]  # what each call of the receiver's callback got


def count(got: Lines, guid: str = APP) -> int:
    """Lines of app `guid` delivered so far."""
    return sum(by_app.get(guid, b"").count(b"\n") for by_app in got)


@pytest.fixture
def receive(stats: FakeStatsSocket) -> Iterator[Callable[..., tuple[AccessLogReceiver, Lines]]]:
    """receive(on_lines=None) → a started receiver on the fake socket, and the lines it got."""
    started: list[AccessLogReceiver] = []

    def start(
        on_lines: Callable[[Lines], None] | None = None,
    ) -> tuple[AccessLogReceiver, Lines]:
        got: Lines = []
        receiver = AccessLogReceiver(stats.path, on_lines or got.append)
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
    notice = b"Proxy yun_http started.\n"
    data = notice + served(APP, "/1") + UNKNOWN + served(OTHER, "/a") + served(APP, "/2")

    for cut in (5, len(notice) + 40, len(notice) + len(SERVED) + 1, len(data) - 1):
        stream.sendall(data[:cut])
        data = data[cut:]
        time.sleep(0.02)
    stream.sendall(data)

    assert wait_for(lambda: count(got) == 2 and count(got, OTHER) == 1)
    mine = b"".join(by_app.get(APP, b"") for by_app in got)
    assert mine == served(APP, "/1") + served(APP, "/2")


def test_a_trickle_of_lines_is_delivered_in_few_calls(stats, receive):
    _, got = receive()
    stream = stats.next_stream()

    for n in range(20):
        stream.sendall(served(APP, f"/{n}"))
        time.sleep(0.005)

    assert wait_for(lambda: count(got) == 20)
    assert len(got) < 10


def test_first_stream_skips_old_lines_and_a_new_worker_is_read_whole(stats, receive):
    receiver, got = receive()
    old = stats.next_stream()
    old.sendall(SERVED)
    assert wait_for(lambda: count(got) == 1)

    stats.pid = 101  # a reload: a new worker answers now
    receiver.reconnect()
    new = stats.next_stream()
    new.sendall(served(OTHER, "/new"))
    old.sendall(SERVED)  # the old worker finishing a request it had in flight

    assert wait_for(lambda: count(got) == 2 and count(got, OTHER) == 1)
    assert stats.stream_commands() == [
        f"show info;show events {ACCESS_RING} -w -n",
        f"show info;show events {ACCESS_RING} -w",
    ]


def test_the_old_worker_answering_the_new_ones_stream_is_not_read_twice(stats, receive):
    receiver, got = receive()
    old = stats.next_stream()
    old.sendall(SERVED)
    assert wait_for(lambda: count(got) == 1)

    stats.pid = 101  # a reload; but the old worker answers the next connection (the handover)
    stats.stream_pids = [100]
    receiver.reconnect()
    again = stats.next_stream()
    again.sendall(SERVED)  # its whole ring, asked for as if it were the new worker's
    new = stats.next_stream()  # the receiver tries again and reaches the new worker
    new.sendall(served(OTHER, "/new"))
    old.sendall(served(APP, "/late"))  # the old worker still finishing a request

    assert wait_for(lambda: count(got) == 2 and count(got, OTHER) == 1)
    time.sleep(0.2)
    mine = b"".join(by_app.get(APP, b"") for by_app in got)
    assert mine == SERVED + served(APP, "/late")  # nothing twice


def test_reconnect_to_the_worker_already_read_keeps_the_stream(stats, receive):
    receiver, got = receive()
    stream = stats.next_stream()
    asked = len(stats.commands)

    receiver.reconnect()

    assert wait_for(lambda: len(stats.commands) > asked)  # it asked which worker serves
    time.sleep(0.1)
    stream.sendall(SERVED)
    assert wait_for(lambda: count(got) == 1)
    assert len(stats.stream_commands()) == 1


@pytest.mark.parametrize(("pid", "skip_old"), [(100, True), (101, False)])
def test_a_stream_that_ends_is_reopened(stats, receive, pid, skip_old):
    _, got = receive()
    stats.next_stream().close()
    stats.pid = pid

    stream = stats.next_stream()
    stream.sendall(SERVED)

    assert wait_for(lambda: count(got) == 1)
    assert stats.stream_commands()[-1].endswith(" -n") == skip_old


def test_waits_for_haproxy_and_reads_its_ring_whole(tmp_path, receive_on):
    _, got = receive_on(tmp_path / "stats.sock")
    time.sleep(0.5)  # a few attempts find no socket

    stats = FakeStatsSocket(tmp_path / "stats.sock")
    try:
        stats.next_stream().sendall(SERVED)
        assert wait_for(lambda: count(got) == 1)
        # This HAProxy started after the receiver: everything in its ring is new.
        assert stats.stream_commands() == [f"show info;show events {ACCESS_RING} -w"]
    finally:
        stats.close()


@pytest.fixture
def receive_on() -> Iterator[Callable[[Path], tuple[AccessLogReceiver, Lines]]]:
    started: list[AccessLogReceiver] = []

    def start(path: Path) -> tuple[AccessLogReceiver, Lines]:
        got: Lines = []
        receiver = AccessLogReceiver(path, got.append)
        receiver.start()
        started.append(receiver)
        return receiver, got

    yield start
    for receiver in started:
        receiver.stop()


@pytest.mark.parametrize("haproxy_up", [True, False], ids=["streaming", "retrying"])
def test_stop_is_prompt(tmp_path, stats, haproxy_up):
    path = stats.path if haproxy_up else tmp_path / "absent.sock"
    receiver = AccessLogReceiver(path, lambda by_app: None)
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

    def on_lines(by_app: AppLines) -> None:
        calls.append(len(by_app))
        if len(calls) == 1:
            raise RuntimeError("boom")

    receive(on_lines)
    stream = stats.next_stream()
    stream.sendall(SERVED)
    assert wait_for(lambda: len(calls) == 1)
    stream.sendall(SERVED)

    assert wait_for(lambda: len(calls) == 2)
    assert "access log callback failed" in caplog.text


def test_a_ring_read_again_whole_skips_what_was_delivered_from_it() -> None:
    """A reload's handover can let an old worker, whose session had closed, answer a new
    one: its ring then comes again from the start, and only lines after the last one
    delivered from it go on."""
    left, right = socket.socketpair()
    try:
        session = _Session(left, pid=7, whole_ring=True)
        session.skip_to = b"line 2\n"
        assert session.skip_delivered(b"line 1\n") == b""
        assert session.skip_delivered(b"xline 2\nline 2\nline 3\n") == b"line 3\n"
        assert session.skip_to is None
        assert session.skip_delivered(b"line 4\n") == b"line 4\n"
        wrapped = _Session(left, pid=8, whole_ring=True)
        wrapped.skip_to = b"gone\n"
        wrapped.skipped = RING_SIZE - 10  # a ring's worth seen without it: it wrapped
        assert wrapped.skip_delivered(b"0123456789 new\n") == b""
        assert wrapped.skip_delivered(b"next\n") == b"next\n"
    finally:
        left.close()
        right.close()
