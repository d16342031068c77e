"""Syslog drains: an app bound to a service with a `syslog://HOST:PORT` drain gets its log lines
forwarded there as RFC 5424 messages over TCP (octet-counted framing, RFC 6587), like Cloud
Foundry's syslog drains.

Each drain follows the app's log file from the moment it appears (no history is replayed) and
keeps its place while the receiver is unreachable, so lines written meanwhile are sent once it
is back (up to `MAX_BACKLOG` lines; older ones are skipped and the gap is said in a line).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import select

from yun.logstore import LogLine, LogStore
from yun.logstore.tail import Tail
from yun.store.models import App, ServiceBinding
from yun.store.session import Store

log = logging.getLogger("yun.server.drains")

POLL = 0.5
CONNECT_TIMEOUT = 3.0
MAX_BACKLOG = 10_000
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
STDERR_SOURCE_SUFFIX = "/ERR"


def syslog_frame(line: LogLine, *, app_guid: str, app_name: str, hostname: str) -> bytes:
    """One RFC 5424 message, octet-counted: `<14>1 TIMESTAMP HOST APP PROCID - - MSG`.

    Facility user (1); severity informational (6) for stdout and router lines, error (3) for
    stderr; APP-NAME is the app's guid as Cloud Foundry does, PROCID the log source in brackets.
    """
    severity = 3 if line.source.endswith(STDERR_SOURCE_SUFFIX) else 6
    stamp = datetime.fromtimestamp(line.ts, UTC).isoformat(timespec="microseconds")
    procid = f"[{line.source}]".replace(" ", "_")[:128]
    message = f"<{8 + severity}>1 {stamp.replace('+00:00', 'Z')} {hostname} {app_guid} {procid} - "
    message += f'[yun@47450 app_name="{_param(app_name)}"] {line.message}'
    data = message.encode("utf-8", "replace")
    return f"{len(data)} ".encode() + data


def _param(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def drain_address(url: str) -> tuple[str, int] | None:
    parts = urlsplit(url)
    if parts.scheme != "syslog" or not parts.hostname or not parts.port:
        return None
    return parts.hostname, parts.port


@dataclass
class _Drain:
    app_guid: str
    app_name: str
    url: str
    tail: Tail
    sock: socket.socket | None = None
    failures: int = 0
    retry_at: float = 0.0
    sent: int = 0
    pending: list[LogLine] = field(default_factory=list)


class SyslogDrains:
    def __init__(
        self,
        *,
        store: Store,
        logs: LogStore,
        hostname: str = "yun",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.logs = logs
        self.hostname = hostname
        self.clock = clock
        self._drains: dict[tuple[str, str], _Drain] = {}
        self._wanted: dict[tuple[str, str], str] = {}
        self._wanted_at: int | None = None  # the store's write count when last read
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wanted(self) -> dict[tuple[str, str], str]:
        """(app guid, drain url) → app name, for every binding with a drain."""
        found: dict[tuple[str, str], str] = {}
        with self.store.session() as session:
            rows = session.execute(
                select(ServiceBinding.app_guid, ServiceBinding.syslog_drain_url, App.name)
                .join(App, App.guid == ServiceBinding.app_guid)
                .where(ServiceBinding.type == "app", ServiceBinding.syslog_drain_url != "")
            )
            for app_guid, url, name in rows:
                if app_guid and drain_address(url) is not None:
                    found[(app_guid, url)] = name
        return found

    def pass_once(self) -> None:
        writes = self.store.writes
        if writes != self._wanted_at:  # bindings are read again only after the store changed
            self._wanted, self._wanted_at = self.wanted(), writes
        wanted = self._wanted
        for key in list(self._drains):
            if key not in wanted:
                self._forget(self._drains.pop(key))
        for (app_guid, url), name in wanted.items():
            drain = self._drains.get((app_guid, url))
            if drain is None:
                drain = _Drain(app_guid, name, url, tail=Tail(self.logs, app_guid))
                self._drains[(app_guid, url)] = drain
            self._forward(drain)

    def _forward(self, drain: _Drain) -> None:
        skipped = 0
        while len(drain.pending) <= MAX_BACKLOG:
            lines, dropped = drain.tail.read()
            drain.pending.extend(lines)
            skipped += dropped
            if not lines and not dropped:
                break
        if len(drain.pending) > MAX_BACKLOG or skipped:
            over = max(0, len(drain.pending) - MAX_BACKLOG)
            drain.pending = drain.pending[over:]
            skipped += over
            since = drain.pending[0].ts if drain.pending else time.time()
            gap = LogLine(since, "LGR", f"{skipped} lines skipped: drain unreachable")
            drain.pending.insert(0, gap)
        if not drain.pending or self.clock() < drain.retry_at:
            return
        try:
            if drain.sock is None:
                address = drain_address(drain.url)
                assert address is not None
                drain.sock = socket.create_connection(address, timeout=CONNECT_TIMEOUT)
            payload = b"".join(
                syslog_frame(
                    line, app_guid=drain.app_guid, app_name=drain.app_name, hostname=self.hostname
                )
                for line in drain.pending
            )
            drain.sock.sendall(payload)
        except OSError as exc:
            self._close(drain)
            delay = RETRY_DELAYS[min(drain.failures, len(RETRY_DELAYS) - 1)]
            drain.failures += 1
            drain.retry_at = self.clock() + delay
            log.info(
                "syslog drain %s of %s: %s; retrying in %ss", drain.url, drain.app_name, exc, delay
            )
            return
        drain.sent += len(drain.pending)
        drain.pending = []
        drain.failures = 0

    @staticmethod
    def _close(drain: _Drain) -> None:
        if drain.sock is not None:
            try:
                drain.sock.close()
            finally:
                drain.sock = None

    @classmethod
    def _forget(cls, drain: _Drain) -> None:
        drain.tail.close()
        cls._close(drain)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="yun-drains", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(POLL):
            try:
                self.pass_once()
            except Exception:  # a broken pass must not end forwarding for every app
                log.exception("syslog drains")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for drain in self._drains.values():
            self._forget(drain)
