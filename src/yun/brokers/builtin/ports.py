"""TCP ports for the built-in brokers' servers, from one range shared by every backend.

A server keeps its port for life (it is in the credentials apps hold), so a port is taken while
any backend's state records it, even while its server is stopped. Each backend tells the
allocator where its recorded ports are (`track`); the allocator also skips ports it handed out
that are not recorded yet, and ports something else listens on now.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
from collections.abc import Callable, Iterable

from yun.brokers.builtin.base import BackendError

_WILDCARDS = ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::"))


def listening(port: int) -> bool:
    """Whether something on this machine listens on `port` (any address, IPv4 or IPv6)."""
    for family, wildcard in _WILDCARDS:
        try:
            probe = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue  # no IPv6 on this host
        with probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind((wildcard, port))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    return True
                if error.errno != errno.EADDRNOTAVAIL:
                    raise
    return False


class PortAllocator:
    """Hands out ports from `span` (first, last), inclusive, lowest free port first."""

    def __init__(self, span: tuple[int, int]) -> None:
        first, last = span
        if not 0 < first <= last <= 65535:
            raise ValueError(f"not a port range: {first}-{last}")
        self.first, self.last = first, last
        self._lock = threading.Lock()
        self._sources: list[Callable[[], Iterable[int]]] = []
        self._handed: set[int] = set()

    def track(self, recorded: Callable[[], Iterable[int]]) -> None:
        """Count the ports `recorded()` returns (a backend's state) as taken."""
        with self._lock:
            self._sources.append(recorded)

    def allocate(self) -> int:
        with self._lock:
            taken = set(self._handed)
            for source in self._sources:
                taken.update(source())
            for port in range(self.first, self.last + 1):
                if port in taken or listening(port):
                    continue
                self._handed.add(port)
                return port
        raise BackendError(f"no free port left for service servers in {self.first}-{self.last}")

    def release(self, port: int) -> None:
        """The caller no longer records `port` (its instance is gone)."""
        with self._lock, contextlib.suppress(KeyError):
            self._handed.remove(port)
