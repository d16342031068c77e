"""Access logs: the line HAProxy emits per request, and a receiver that files it per app.

HAProxy writes one line per request into an in-memory ring (`ACCESS_RING`). Writing there costs
HAProxy almost nothing and never waits for a reader: when the ring is full, lines are dropped,
requests are not slowed. `AccessLogReceiver` streams the ring out over the stats socket
(`show events <ring> -w`).

Each line is a record of the request in the layout `yun.logstore.rtr` defines: after a marker
and the backend's name, HAProxy's own numbers and names, then the values a client sent, quoted
and escaped by HAProxy. The log store keeps records as they come and formats them as Cloud
Foundry style RTR lines only when they are read, so HAProxy does little more per request than
write numbers, and the receiver touches no line one by one: one regular-expression pass over a
chunk copies each record out to its app, and the records are handed on as bytes.

`LOG_FORMAT` is what `config.render` writes into HAProxy's `log-format`, built from
`rtr.FIELDS`; `split_by_app` sorts the records by app and `rtr.decode` reads them.

Each worker has its own ring, and a reload starts a new worker with an empty one while the old
worker drains. A session on the old worker keeps it alive (HAProxy does not close it on
soft-stop) and never sees new requests, so whoever reloads calls `AccessLogReceiver.reconnect`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from yun.logstore import rtr
from yun.router.control import send_command
from yun.router.routes import BACKEND_PREFIX

log = logging.getLogger(__name__)

READ_PIDS_KEPT = 64  # workers remembered as read, so an old one's ring is not read twice
RING_SIZE = 16 << 20  # bytes; ≈35,000 lines: seconds of saturation, read once a CPU is free
ACCESS_RING = "yun_access"  # the ring section config.py renders and the receiver reads
INSTANCE = " %s "  # in LOG_FORMAT: the server's name, which the router turns into its instance

# Variables the frontend sets for the log (see config.py).
VAR_HOST = "txn.yun_host"
VAR_START = "txn.yun_start"

# HAProxy builds a log line in one buffer of `tune.bufsize` (16 KiB unless set) and loses a line
# that does not fit, whole. So each value a client controls is cut to a length that, escaped,
# keeps the worst case inside: a byte takes at most two (a quote becomes \"), so these
# 3,840 bytes take 7,680, and the record's own fields a few hundred.
HOST_MAX, URI_MAX, USER_AGENT_MAX, XFF_MAX, REQUEST_ID_MAX = 256, 1024, 1280, 1024, 256

# The values only the log needs, as the client sent them: HAProxy's header captures, taken as it
# reads the headers (cheaper than any rule), cut to their lengths. `capture.req.hdr(N)` is the
# Nth; the HTTP version is taken by a rule into the slot declared after them.
HEADER_CAPTURES: tuple[tuple[str, str, int], ...] = (
    ("user_agent", "User-Agent", USER_AGENT_MAX),
    ("x_forwarded_for", "X-Forwarded-For", XFF_MAX),
    ("request_id", "X-Request-Id", REQUEST_ID_MAX),
    ("traceparent", "traceparent", 55),
)
VERSION_CAPTURE = (len(HEADER_CAPTURES), "req.ver", 8)  # (slot, fetch, length)
VAR_MADE_ID = "txn.yun_trace"  # the UUID the router made for this request, if it made one
_SLOT = {name: f"capture.req.hdr({n})" for n, (name, _, _) in enumerate(HEADER_CAPTURES)}

# What HAProxy writes for each field of `rtr.FIELDS` and `rtr.CLIENT_FIELDS`.
_FIELDS = {
    "start_ms": f"%[var({VAR_START})]",
    "response_ms": "%Ta",
    "status": "%ST",
    "bytes_in": "%U",
    "bytes_out": "%B",
    "client": "%ci:%cp",
    "server": "%si:%sp",
    "instance": "%s",  # the slot; the router looks its instance up (`INSTANCE`)
    "termination": "%ts",
    "method": "%HM",
    # Not %HV, which HAProxy reads from the request line it keeps for logs (1,024 bytes), and
    # takes for HTTP/0.9 when that line was cut.
    "version": f"HTTP/%[capture.req.hdr({VERSION_CAPTURE[0]})]",
    "made_id": f"%[var({VAR_MADE_ID})]",  # `-` when unset
}
_CLIENT_FIELDS = {
    "host": (f"var({VAR_HOST})", HOST_MAX),
    "uri": ("capture.req.uri", URI_MAX),
    "user_agent": (_SLOT["user_agent"], USER_AGENT_MAX),
    "x_forwarded_for": (_SLOT["x_forwarded_for"], XFF_MAX),
    "request_id": (_SLOT["request_id"], REQUEST_ID_MAX),
    "traceparent": (_SLOT["traceparent"], 55),
}


def _client(fetch: str, cut: int) -> str:
    """A value the client controls: cut to `cut` bytes, quoted, `"`, `\\` and `]` escaped."""
    return f'"%{{+E}}[{fetch},bytes(0,{cut})]"'


# One record per request, in the layout `rtr.decode` reads: the backend names the app.
LOG_FORMAT = " ".join(
    [
        rtr.MARKER.decode(),
        "%b",
        *(_FIELDS[name] for name in rtr.FIELDS),
        *(_client(*_CLIENT_FIELDS[name]) for name in rtr.CLIENT_FIELDS),
    ]
)

AppLines = dict[str, bytes]  # app guid → its access records, whole lines, in order

# A record of an app's backend: the marker after a newline (one is put before the chunk), the
# backend name, which starts with the app's guid, and the rest of the line. The pattern opens
# with a literal, which the regular-expression engine searches for fast, and stops before the
# line's newline, which opens the next line's match. One pass copies out every record: the
# receiver's time goes there.
_LINE = re.compile(
    b"\\n(" + re.escape(rtr.MARKER + f" {BACKEND_PREFIX}".encode()) + rb"([0-9a-f-]{36})[^\n]*)"
)


def split_by_app(lines: bytes) -> AppLines:
    """The access records in `lines` (whole lines, as the ring streams them), per app guid.

    Lines that are not an app's (HAProxy's notices, requests no route matched) are left out.
    """
    by_app: dict[bytes, list[bytes]] = {}
    for line, guid in _LINE.findall(b"\n" + lines):
        by_app.setdefault(guid, []).append(line)
    return {guid.decode(): b"\n".join(found) + b"\n" for guid, found in by_app.items()}


def _yield_to_data_plane() -> None:
    """Run this thread only when a CPU is otherwise idle (SCHED_IDLE, else nice 19).

    Access lines are best effort: under CPU saturation the ring fills and HAProxy drops lines
    rather than wait, so the receiver must never take CPU from HAProxy or the apps.
    """
    tid = threading.get_native_id()
    try:
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, tid, 19)


class _Session:
    """One `show info;show events` stream, from one worker.

    The stream opens with `show info`'s answer, which names the worker that serves it (a reload
    may have happened since the receiver asked); the ring's lines follow.
    """

    def __init__(self, sock: socket.socket, pid: int, *, whole_ring: bool = False) -> None:
        self.sock = sock
        self.pid = pid
        self.whole_ring = whole_ring  # asked for the ring from its start (no `-n`)
        self.in_header = True
        self.pending = b""
        self.last_data = time.monotonic()
        self.drain_until: float | None = None  # set once a newer worker's session replaced it
        self.skip_to: bytes | None = None  # a line delivered before: what comes up to it is old
        self.skipped = 0

    def skip_delivered(self, lines: bytes) -> bytes:
        """`lines` less those up to `skip_to`, for a ring read again whole. A ring that wrapped
        since no longer holds that line: after a ring's worth, nothing more is skipped."""
        if self.skip_to is None or not lines:
            return lines
        marker = self.skip_to  # a whole line, with its newline
        at = 0 if lines.startswith(marker) else lines.find(b"\n" + marker) + 1
        if at > 0 or lines.startswith(marker):
            self.skip_to = None
            return lines[at + len(marker) :]
        self.skipped += len(lines)
        if self.skipped >= RING_SIZE:
            self.skip_to = None
        return b""

    def feed(self, chunk: bytes) -> bytes:
        """The complete lines `chunk` finishes; a partial last line waits for the next chunk."""
        self.last_data = time.monotonic()
        data = self.pending + chunk
        if self.in_header:
            end = data.find(b"\n\n")
            if end < 0:
                self.pending = data[-self._HEADER_MAX :]
                return b""
            if match := _PID.search(data, 0, end):
                self.pid = int(match.group(1))
            self.in_header = False
            data = data[end + 2 :]
        end = data.rfind(b"\n") + 1
        self.pending = data[end:]
        return data[:end]

    def expired(self, now: float, idle: float) -> bool:
        """Whether a replaced session has gone quiet (its worker is done) or drained too long."""
        if self.drain_until is None:
            return False
        return now >= self.drain_until or now - self.last_data >= idle

    _HEADER_MAX = 1 << 16


_PID = re.compile(rb"^Pid: (\d+)$", re.MULTILINE)


def _worker_pid(stats_socket: Path) -> int:
    """The pid of the worker that answers on the stats socket now."""
    info = send_command(stats_socket, "show info", timeout=1.0)
    match = _PID.search(info.encode())
    if match is None:
        raise ValueError(f"no Pid in 'show info': {info[:200]!r}")
    return int(match.group(1))


class AccessLogReceiver:
    """Streams HAProxy's access ring and hands `on_lines` each chunk's requests as one batch.

    A daemon thread connects to the stats socket (retrying while HAProxy is not up), reads
    `show events` in large chunks and calls `on_lines` once per chunk with its access lines as
    (backend, app_name, text), so the consumer can write them with one call per app rather than
    one per request; other lines (HAProxy's own notices) are ignored. The ring's earlier lines
    are skipped (`show events -n`) on the first connection if HAProxy was already up when the
    receiver started, so a restarted control plane
    adopting a running HAProxy does not replay them, and when coming back to a worker already
    read. Any other worker's ring is read whole: it holds only lines since that worker started.
    After `reconnect()`, the old worker's session is kept until it falls quiet, so requests it
    was still finishing are logged too. A socketpair wakes the thread on `stop()`.
    """

    retry_interval = 0.3  # seconds between attempts while HAProxy is not up
    # After a small read, the receiver rests this long so that lines gather into few large
    # reads: per chunk, not per line, is where its time goes. A read of `batch_min` bytes or
    # more means lines are coming fast, and waiting would let the ring overflow (HAProxy
    # sends no more than the socket's buffer holds), so the next read follows at once.
    batch_interval = 0.1
    batch_min = 32 << 10
    drain_idle = 1.0  # a replaced session closes after this long without a line...
    drain_max = 10.0  # ...or this long after it was replaced, whichever comes first
    stop_timeout = 5.0

    _CHUNK = 1 << 20

    def __init__(self, stats_socket: Path, on_lines: Callable[[AppLines], None]) -> None:
        self.stats_socket = Path(stats_socket)
        self._on_lines = on_lines
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._reconnect = threading.Event()
        # Only the thread touches these.
        self._current: _Session | None = None
        self._draining: list[_Session] = []
        self._last_pid: int | None = None  # the worker whose ring was read last
        self._last_lines: dict[int, bytes] = {}  # per worker read, the last line delivered
        self._skip_existing = True  # until HAProxy is found down: its ring predates us

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("receiver already started")
        self._stopping.clear()
        self._wake = socket.socketpair()
        self._thread = threading.Thread(
            target=self._run, name=f"yun-accesslog:{self.stats_socket}", daemon=True
        )
        self._thread.start()

    @property
    def native_id(self) -> int | None:
        """The receiving thread's kernel id (for CPU accounting), None when not running."""
        return self._thread.native_id if self._thread is not None else None

    def reconnect(self) -> None:
        """Follow HAProxy to its newest worker: call after a reload has completed."""
        self._reconnect.set()
        if (wake := self._wake) is not None:
            with contextlib.suppress(OSError):
                wake[1].send(b"r")

    def stop(self) -> None:
        if self._thread is None or self._wake is None:
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake[1].send(b"s")
        self._thread.join(self.stop_timeout)
        if self._thread.is_alive():
            log.warning("access log receiver did not stop within %ss", self.stop_timeout)
        else:
            for end in self._wake:
                end.close()
        self._thread = self._wake = None

    def __enter__(self) -> AccessLogReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        assert self._wake is not None
        wake = self._wake[0]
        _yield_to_data_plane()
        follow, next_attempt = True, 0.0
        rest_until = 0.0  # after a read, lines gather in the ring until then
        try:
            while not self._stopping.is_set():
                if self._reconnect.is_set():
                    self._reconnect.clear()
                    follow, next_attempt = True, 0.0
                if follow and time.monotonic() >= next_attempt:
                    follow = not self._follow()
                    next_attempt = time.monotonic() + self.retry_interval
                resting = (rest := rest_until - time.monotonic()) > 0
                sessions = [] if resting else self._sessions()
                timeout = self._timeout(next_attempt if follow else None)
                if resting:
                    timeout = rest if timeout is None else min(rest, timeout)
                readable, _, _ = select.select([wake, *(s.sock for s in sessions)], [], [], timeout)
                if wake in readable:
                    wake.recv(4096)
                most = 0
                for session in sessions:
                    if session.sock in readable:
                        read = self._read(session)
                        follow = follow or read < 0  # the current stream ended: find the worker
                        most = max(most, read)
                if 0 < most < self.batch_min:
                    rest_until = time.monotonic() + self.batch_interval
                self._close_drained()
        finally:
            for session in self._sessions():
                session.sock.close()
            self._current, self._draining = None, []

    def _sessions(self) -> list[_Session]:
        return [*([self._current] if self._current else []), *self._draining]

    def _timeout(self, next_attempt: float | None) -> float | None:
        now = time.monotonic()
        deadlines = [
            min(s.drain_until, s.last_data + self.drain_idle)
            for s in self._draining
            if s.drain_until is not None
        ]
        if next_attempt is not None:
            deadlines.append(next_attempt)
        return max(0.0, min(deadlines) - now) if deadlines else None

    def _follow(self) -> bool:
        """Read the worker serving now; False if HAProxy could not be reached (retried later)."""
        try:
            pid = _worker_pid(self.stats_socket)
        except (OSError, ValueError):
            if self._last_pid is None:
                self._skip_existing = False  # whatever worker comes up starts after us
            return False
        if self._current is not None and self._current.pid == pid:
            return True
        skip_old = self._skip_existing if self._last_pid is None else self._last_pid == pid
        command = f"show info;show events {ACCESS_RING} -w{' -n' if skip_old else ''}\n"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(1.0)
            sock.connect(str(self.stats_socket))
            sock.sendall(command.encode())
            sock.setblocking(False)
        except OSError:
            sock.close()
            return False
        if self._current is not None:
            now = time.monotonic()
            self._current.drain_until = now + self.drain_max
            self._current.last_data = now
            self._draining.append(self._current)
        self._current = _Session(sock, pid, whole_ring=not skip_old)
        self._last_pid = pid
        return True

    def _read(self, session: _Session) -> int:
        """Deliver what `session` has to read: the bytes read, -1 if the current session ended."""
        try:
            chunk = session.sock.recv(self._CHUNK)
        except BlockingIOError:
            return 0
        except OSError:
            chunk = b""
        if not chunk:  # the worker ended the stream: it stopped, or HAProxy did
            session.sock.close()
            if session is not self._current:
                self._draining.remove(session)
                return 0
            self._current = None
            return -1
        in_header = session.in_header
        lines = session.feed(chunk)
        if in_header and not session.in_header and self._repeats(session):
            return -1  # look for the new worker again
        lines = session.skip_delivered(lines)
        self._deliver(lines)
        if lines:
            self._last_lines[session.pid] = lines[lines.rfind(b"\n", 0, len(lines) - 1) + 1 :]
            while len(self._last_lines) > READ_PIDS_KEPT:
                self._last_lines.pop(next(iter(self._last_lines)))
        if session is self._current:
            self._last_pid = session.pid  # what `show info` said may predate a reload
        return len(chunk)

    def _repeats(self, session: _Session) -> bool:
        """Whether `session`, just found (by `show info`) to be served by a worker whose ring
        another open session reads, would deliver that ring again: a reload's handover can
        let the old worker answer the connection meant for the new one. The session is
        dropped and the other one, which goes on reading that worker, is current again until
        the next try finds the new worker."""
        if session is not self._current or not session.whole_ring:
            return False
        reading = next((s for s in self._draining if s.pid == session.pid), None)
        if reading is None:
            # An old worker read before, whose session has since closed, answered: its ring
            # comes again whole, so what was delivered from it is skipped (up to its last
            # line delivered). Then the session goes on reading it, until a retry finds the
            # newest worker.
            session.skip_to = self._last_lines.get(session.pid)
            return False
        session.sock.close()
        self._draining.remove(reading)
        reading.drain_until = None
        self._current = reading
        return True

    def _close_drained(self) -> None:
        now = time.monotonic()
        for session in [s for s in self._draining if s.expired(now, self.drain_idle)]:
            session.sock.close()
            self._draining.remove(session)

    def _deliver(self, lines: bytes) -> None:
        if not (by_app := split_by_app(lines)):
            return
        try:
            self._on_lines(by_app)
        except Exception:
            log.exception("access log callback failed")
