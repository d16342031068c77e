"""Access logs: the line HAProxy emits per request, and a receiver that turns it into RTR lines.

HAProxy writes one RFC 5424 line per request into an in-memory ring (`ACCESS_RING`). Writing
there costs HAProxy almost nothing and never waits for a reader: when the ring is full, lines
are dropped, requests are not slowed. `AccessLogReceiver` streams the ring out over the stats
socket (`show events <ring> -w`). This module owns both ends of that wire format: `LOG_FORMAT`
is what `config.render` writes into HAProxy's `log-format`, and `parse_line` reads it back.
Keeping them together means one edit changes both.

Each worker has its own ring, and a reload starts a new worker with an empty one while the old
worker drains. A session on the old worker keeps it alive (HAProxy does not close it on
soft-stop) and never sees new requests, so whoever reloads calls `AccessLogReceiver.reconnect`.

The readable text handed to callers imitates Cloud Foundry's RTR lines (host, request line,
status, bytes, timing, X-Forwarded-For, X-Request-Id, instance), so `yun logs` reads like
`cf logs`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from yun.router.control import send_command
from yun.router.routes import backend_id, decode_name

log = logging.getLogger(__name__)

MARKER = "yunrtr2"
ACCESS_RING = "yun_access"  # the ring section config.py renders and the receiver reads

# Variables the frontend and backends set for the log (see config.py).
VAR_APP = "txn.yun_app"
VAR_HOST = "txn.yun_host"
VAR_START = "txn.yun_start"
VAR_XFF = "txn.yun_xff"
VAR_REQUEST_ID = "txn.yun_rid"
VAR_USER_AGENT = "txn.yun_ua"

# HAProxy writes the RTR text itself, so the receiver never tokenises it: a line is the marker,
# four tokens the receiver reads (backend, app and server, which `routes.encode_name` keeps free
# of blanks, and the termination state), then the text up to `response_time_ms`. The receiver
# appends app, instance and termination, decoded. Values a client controls are escaped (+E), and
# quoted (+Q) where the RTR line quotes them, so they cannot pass for another field; the URI is
# encoded by HAProxy (a space or quote becomes #20 or #22).
_HEAD = ("%b", f"%[var({VAR_APP})]", "%s", "%ts")
_TEXT = (
    f"%{{+E}}[var({VAR_HOST})] - [%[var({VAR_START}),div(1000),utime(%Y-%m-%dT%H:%M:%S)]"
    # HAProxy 2.6 has no ms_utime: milliseconds are zero-padded by adding 1000 and dropping the 1.
    f".%[var({VAR_START}),mod(1000),add(1000),regsub(^1,)]+0000]"
    ' "%HM %HU %HV" %ST %U %B'
    f' %{{+Q,+E}}[var({VAR_USER_AGENT})] "%ci:%cp" "%si:%sp"'
    f" x_forwarded_for:%{{+Q,+E}}[var({VAR_XFF})]"
    f" x_request_id:%{{+Q,+E}}[var({VAR_REQUEST_ID})]"
    " response_time_ms:%Ta"
)
LOG_FORMAT = " ".join([MARKER, *_HEAD, _TEXT])


Batch = list[tuple[str, str, str]]  # (backend, app_name, text) per request, in order


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One request as the router saw it."""

    backend: str  # Yun backend id; "" when no route matched
    app_name: str
    instance: str  # server (instance) name; "" when no instance was used
    text: str  # an RTR-style line: what a developer reads in `yun logs`


# One access line: the marker opens the message (the syslog header before it holds nothing a
# client sends, so the first marker in a line is ours), then the four tokens and the RTR text.
# Without DOTALL, `.*` ends at the line's end; a chunk's lines are matched in one pass.
_LINE = re.compile(rf"{MARKER} ([^ \n]+) ([^ \n]+) ([^ \n]+) ([^ \n]+) (.*)")


# Lines repeat a handful of backend, app and server names: decode each once.
@functools.lru_cache(maxsize=4096)
def _name(logged: str) -> str:
    """A name HAProxy logged, decoded; "" for none ("-", or "<NOSRV>" for the server)."""
    return "" if logged == "-" or logged.startswith("<") else decode_name(logged)


@functools.lru_cache(maxsize=4096)
def _backend(logged: str) -> str:
    return backend_id(logged) or ""


@functools.lru_cache(maxsize=4096)
def _suffix(app: str, server: str, termination: str) -> str:
    return (
        f' app:"{_name(app) or "-"}" instance:"{_name(server) or "-"}" termination:"{termination}"'
    )


def _batch(text: str) -> Batch:
    """(backend, app_name, text) of the access lines in `text` (whole lines), in order."""
    return [
        (_backend(backend), _name(app), rtr + _suffix(app, server, term))
        for backend, app, server, term, rtr in _LINE.findall(text)
    ]


def parse_line(datagram: bytes | str) -> AccessRecord | None:
    """Read one line HAProxy logged with `LOG_FORMAT`; None if it is not one of ours."""
    text = datagram.decode("utf-8", "replace") if isinstance(datagram, bytes) else datagram
    match = _LINE.search(text.split("\n", 1)[0])
    if match is None:
        return None
    backend, app, server, term, rtr = match.groups()
    return AccessRecord(
        _backend(backend), _name(app), _name(server), rtr + _suffix(app, server, term)
    )


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

    def __init__(self, sock: socket.socket, pid: int) -> None:
        self.sock = sock
        self.pid = pid
        self.in_header = True
        self.pending = b""
        self.last_data = time.monotonic()
        self.drain_until: float | None = None  # set once a newer worker's session replaced it

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
    drain_idle = 1.0  # a replaced session closes after this long without a line...
    drain_max = 10.0  # ...or this long after it was replaced, whichever comes first
    stop_timeout = 5.0

    _CHUNK = 1 << 20

    def __init__(self, stats_socket: Path, on_lines: Callable[[Batch], None]) -> None:
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
        try:
            while not self._stopping.is_set():
                if self._reconnect.is_set():
                    self._reconnect.clear()
                    follow, next_attempt = True, 0.0
                if follow and time.monotonic() >= next_attempt:
                    follow = not self._follow()
                    next_attempt = time.monotonic() + self.retry_interval
                sessions = self._sessions()
                readable, _, _ = select.select(
                    [wake, *(s.sock for s in sessions)],
                    [],
                    [],
                    self._timeout(next_attempt if follow else None),
                )
                if wake in readable:
                    wake.recv(4096)
                for session in sessions:
                    if session.sock in readable and not self._read(session):
                        follow = True  # the current stream ended: find the serving worker
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
        self._current = _Session(sock, pid)
        self._last_pid = pid
        return True

    def _read(self, session: _Session) -> bool:
        """Deliver what `session` has to read; False if that ended the current session."""
        try:
            chunk = session.sock.recv(self._CHUNK)
        except BlockingIOError:
            return True
        except OSError:
            chunk = b""
        if not chunk:  # the worker ended the stream: it stopped, or HAProxy did
            session.sock.close()
            if session is not self._current:
                self._draining.remove(session)
                return True
            self._current = None
            return False
        self._deliver(session.feed(chunk))
        if session is self._current:
            self._last_pid = session.pid  # what `show info` said may predate a reload
        return True

    def _close_drained(self) -> None:
        now = time.monotonic()
        for session in [s for s in self._draining if s.expired(now, self.drain_idle)]:
            session.sock.close()
            self._draining.remove(session)

    def _deliver(self, lines: bytes) -> None:
        batch = _batch(lines.decode("utf-8", "replace"))
        if not batch:
            return
        try:
            self._on_lines(batch)
        except Exception:
            log.exception("access log callback failed")
