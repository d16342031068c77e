"""Access logs: the line HAProxy emits per request, and a receiver that turns it into RTR lines.

HAProxy sends one syslog datagram per request to a UNIX datagram socket (no syslog daemon in
between). This module owns both ends of that wire format: `LOG_FORMAT` is what `config.render`
writes into HAProxy's `log-format`, and `parse_line` reads it back. Keeping them together means
one edit changes both.

The readable text handed to callers imitates Cloud Foundry's RTR lines (host, request line,
status, bytes, timing, X-Forwarded-For, X-Request-Id, instance), so `yun logs` reads like
`cf logs`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from yun.router.routes import backend_id, decode_name

log = logging.getLogger(__name__)

MARKER = "yunrtr1"

# Variables the frontend and backends set for the log (see config.py).
VAR_APP = "txn.yun_app"
VAR_HOST = "txn.yun_host"
VAR_START = "txn.yun_start"
VAR_XFF = "txn.yun_xff"
VAR_REQUEST_ID = "txn.yun_rid"
VAR_USER_AGENT = "txn.yun_ua"

# Values a client controls are quoted and escaped (+Q,+E) so spaces and quotes cannot shift the
# positional fields; everything else is a token HAProxy or Yun produced.
_FIELDS: tuple[tuple[str, str], ...] = (
    ("backend", "%b"),
    ("server", "%s"),
    ("app", f"%[var({VAR_APP})]"),
    ("start_ms", f"%[var({VAR_START})]"),
    ("status", "%ST"),
    ("bytes_received", "%U"),
    ("bytes_sent", "%B"),
    ("duration_ms", "%Ta"),
    ("method", "%HM"),
    ("uri", "%{+Q,+E}HU"),
    ("http_version", "%HV"),
    ("host", f"%{{+Q,+E}}[var({VAR_HOST})]"),
    ("x_forwarded_for", f"%{{+Q,+E}}[var({VAR_XFF})]"),
    ("x_request_id", f"%{{+Q,+E}}[var({VAR_REQUEST_ID})]"),
    ("user_agent", f"%{{+Q,+E}}[var({VAR_USER_AGENT})]"),
    ("client", "%ci:%cp"),
    ("upstream", "%si:%sp"),
    ("termination", "%ts"),
)

LOG_FORMAT = " ".join([MARKER, *(fmt for _, fmt in _FIELDS)])

# RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG; RFC 3164: <PRI>... TAG[PID]: MSG
_RFC5424 = re.compile(r"<\d{1,3}>1 \S+ \S+ \S+ \S+ \S+ (?:-|\[.*?\]) ?")
_RFC3164 = re.compile(r"<\d{1,3}>.*?: ")
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')
_UNESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True)
class AccessRecord:
    """One request as the router saw it."""

    backend: str  # Yun backend id; "" when no route matched
    app_name: str
    instance: str  # server (instance) name; "" when no instance was used
    start: float  # epoch seconds when the request arrived
    status: int
    bytes_received: int
    bytes_sent: int
    duration_ms: int
    method: str
    uri: str
    http_version: str
    host: str
    x_forwarded_for: str
    x_request_id: str
    user_agent: str
    client: str
    upstream: str
    termination: str

    @property
    def text(self) -> str:
        """An RTR-style line: what a developer reads in `yun logs`."""
        when = datetime.fromtimestamp(self.start, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        return (
            f"{self.host or '-'} - [{when}+0000] "
            f'"{self.method} {self.uri} {self.http_version}" {self.status} '
            f"{self.bytes_received} {self.bytes_sent} "
            f'"{self.user_agent or "-"}" "{self.client}" "{self.upstream or "-"}" '
            f'x_forwarded_for:"{self.x_forwarded_for or "-"}" '
            f'x_request_id:"{self.x_request_id or "-"}" '
            f"response_time_ms:{self.duration_ms} "
            f'app:"{self.app_name or "-"}" instance:"{self.instance or "-"}" '
            f'termination:"{self.termination}"'
        )


def _message(datagram: str) -> str:
    for header in (_RFC5424, _RFC3164):
        match = header.match(datagram)
        if match and datagram[match.end() :].startswith(MARKER):
            return datagram[match.end() :]
    return datagram


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _unset(text: str) -> str:
    return "" if text == "-" else text


def parse_line(datagram: bytes | str) -> AccessRecord | None:
    """Parse one datagram HAProxy sent with `LOG_FORMAT`; None if it is not one of ours."""
    text = datagram.decode("utf-8", "replace") if isinstance(datagram, bytes) else datagram
    message = _message(text.rstrip("\r\n"))
    if not message.startswith(MARKER + " "):
        return None
    values: list[str] = []
    for match in _TOKEN.finditer(message, len(MARKER) + 1):
        quoted, bare = match.groups()
        values.append(_UNESCAPE.sub(r"\1", quoted) if quoted is not None else bare)
    if len(values) != len(_FIELDS):
        return None
    field = dict(zip((name for name, _ in _FIELDS), values, strict=True))
    server = field["server"]
    upstream = field["upstream"]
    return AccessRecord(
        backend=backend_id(field["backend"]) or "",
        app_name=decode_name(app) if (app := _unset(field["app"])) else "",
        instance="" if server.startswith("<") else decode_name(server),
        start=_int(field["start_ms"]) / 1000.0,
        status=_int(field["status"]),
        bytes_received=_int(field["bytes_received"]),
        bytes_sent=_int(field["bytes_sent"]),
        duration_ms=_int(field["duration_ms"]),
        method=field["method"],
        uri=field["uri"],
        http_version=field["http_version"],
        host=_unset(field["host"]),
        x_forwarded_for=_unset(field["x_forwarded_for"]),
        x_request_id=_unset(field["x_request_id"]),
        user_agent=_unset(field["user_agent"]),
        client=field["client"],
        upstream="" if upstream.startswith("-") else upstream,
        termination=field["termination"],
    )


class AccessLogReceiver:
    """Binds a UNIX datagram socket and calls `on_line(backend, app_name, text)` per request.

    A daemon thread reads datagrams; a socketpair wakes it on `stop()` so shutting down never
    waits for a timeout. Datagrams that are not Yun access lines are ignored.
    """

    _RECV_BUFFER = 1 << 20

    def __init__(self, path: Path, on_line: Callable[[str, str, str], None]) -> None:
        self.path = Path(path)
        self._on_line = on_line
        self._sock: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("receiver already started")
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._RECV_BUFFER)
            sock.bind(str(self.path))
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._wake = socket.socketpair()
        self._thread = threading.Thread(
            target=self._run, name=f"yun-accesslog:{self.path.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None or self._wake is None or self._sock is None:
            return
        self._wake[1].send(b"x")
        self._thread.join()
        self._sock.close()
        for end in self._wake:
            end.close()
        self._thread = self._sock = self._wake = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> AccessLogReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        assert self._sock is not None and self._wake is not None
        sock, wake = self._sock, self._wake[0]
        while True:
            readable, _, _ = select.select([sock, wake], [], [])
            if wake in readable:
                return
            try:
                datagram = sock.recv(65536)
            except OSError:
                log.exception("access log socket %s failed", self.path)
                return
            record = parse_line(datagram)
            if record is None:
                continue
            try:
                self._on_line(record.backend, record.app_name, record.text)
            except Exception:
                log.exception("access log callback failed")
