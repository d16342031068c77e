"""The internal DNS server: UDP and TCP on one address, names of the internal domains answered
from the table the route controller gives it (`update`), other names forwarded to the host's
resolvers (a small pool, so a slow resolver holds up no internal answer).

One thread waits on both sockets; TCP connections (clients retry over TCP when a UDP answer is
truncated) are served in a thread each, one length-prefixed message after another, at most
`TCP_SESSIONS` at once: an instance opening connections by the thousand gets them closed, not a
thread each in `yun server`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import selectors
import socket
import struct
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode

from yun.discovery.answers import Names, answer

log = logging.getLogger(__name__)

FORWARD_TIMEOUT = 2.0  # seconds a host resolver has to answer a forwarded query
FORWARD_WORKERS = 4
TCP_IDLE = 10.0  # seconds a TCP client may keep its connection without asking anything
TCP_SESSIONS = 64  # TCP connections served at once (a thread each); more are closed at once
BIND_TRIES = 8  # attempts at a free port (port 0) whose TCP twin is taken
MAX_UDP = 512  # a UDP answer longer than this (and than the client's EDNS size) is truncated


def host_resolvers(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[tuple[str, int]]:
    """The nameservers the host's resolv.conf names, in order, with their port (53)."""
    found = []
    with contextlib.suppress(OSError):
        for line in resolv_conf.read_text().splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "nameserver":
                found.append((words[1], 53))
    return found


class DnsServer:
    def __init__(self, *, bind: str, port: int, upstream: Sequence[tuple[str, int]] = ()) -> None:
        """`upstream`: the (address, port) of each resolver other names are forwarded to."""
        self.bind = bind
        self.port = port
        self.upstream = list(upstream)
        self._names: Names = {}
        self._zones: tuple[str, ...] = ()
        self._turns = itertools.count()
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._sessions = threading.BoundedSemaphore(TCP_SESSIONS)

    @property
    def address(self) -> tuple[str, int]:
        return self.bind, self.port

    def update(self, zones: Sequence[str], names: Names) -> None:
        """The internal domains and the names under them now (replaces the whole table)."""
        self._zones, self._names = tuple(zone.lower() for zone in zones), dict(names)

    def start(self) -> None:
        # Port 0 (tests) asks for a free port: UDP picks it, and TCP may find it taken, so a
        # few tries are made before the error stands.
        tries = BIND_TRIES if self.port == 0 else 1
        for attempt in range(tries):
            try:
                udp, tcp = self._bind(self.port)
                break
            except OSError:
                if attempt == tries - 1:
                    raise
        self.port = udp.getsockname()[1]
        self._udp, self._tcp = udp, tcp
        self._stop.clear()
        self._pool = ThreadPoolExecutor(FORWARD_WORKERS, thread_name_prefix="yun-dns-forward")
        self._thread = threading.Thread(target=self._serve, name="yun-dns", daemon=True)
        self._thread.start()
        log.info("internal DNS on %s port %d", self.bind, self.port)

    def _bind(self, port: int) -> tuple[socket.socket, socket.socket]:
        family = socket.AF_INET6 if ":" in self.bind else socket.AF_INET
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            udp.bind((self.bind, port))
            tcp.bind((self.bind, udp.getsockname()[1]))
            tcp.listen(64)
        except OSError:
            udp.close()
            tcp.close()
            raise
        return udp, tcp

    def stop(self) -> None:
        self._stop.set()
        if self._udp is not None:  # wakes the serving thread: an empty datagram is no query
            with (
                contextlib.suppress(OSError),
                socket.socket(self._udp.family, socket.SOCK_DGRAM) as nudge,
            ):
                nudge.sendto(b"", (self.bind, self.port))
        for sock in (self._udp, self._tcp):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        for sock in (self._udp, self._tcp):
            if sock is not None:
                sock.close()
        self._udp = self._tcp = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    # -- serving ------------------------------------------------------------------------------

    def _serve(self) -> None:
        assert self._udp is not None and self._tcp is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._udp, selectors.EVENT_READ)
            selector.register(self._tcp, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=1.0):
                    try:
                        if key.fileobj is self._udp:
                            self._udp_query()
                        else:
                            self._tcp_client()
                    except OSError:
                        if self._stop.is_set():
                            return
                        log.exception("internal DNS: reading a query failed")

    def _udp_query(self) -> None:
        assert self._udp is not None
        wire, client = self._udp.recvfrom(65535)
        query = _parse(wire)
        if query is None:
            return
        response = self._respond(query)
        if response is not None:
            self._send_udp(query, response, client)
        elif self._pool is not None:
            self._pool.submit(self._forward_udp, query, client)

    def _send_udp(
        self, query: dns.message.Message, response: dns.message.Message, client: tuple[Any, ...]
    ) -> None:
        limit = max(MAX_UDP, query.payload if query.edns >= 0 else MAX_UDP)
        try:
            wire = response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            response.answer, response.additional = [], []
            response.flags |= dns.flags.TC
            wire = response.to_wire()
        if self._udp is not None:
            with contextlib.suppress(OSError):
                self._udp.sendto(wire, client)

    def _forward_udp(self, query: dns.message.Message, client: tuple[Any, ...]) -> None:
        self._send_udp(query, self._forwarded(query), client)

    def _tcp_client(self) -> None:
        assert self._tcp is not None
        conn, _ = self._tcp.accept()
        if not self._sessions.acquire(blocking=False):
            conn.close()  # as many as it serves at once already: the client may try again
            return
        threading.Thread(
            target=self._tcp_session, args=(conn,), name="yun-dns-tcp", daemon=True
        ).start()

    def _tcp_session(self, conn: socket.socket) -> None:
        try:
            self._serve_tcp(conn)
        finally:
            self._sessions.release()

    def _serve_tcp(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(TCP_IDLE)
            while not self._stop.is_set():
                try:
                    head = _read_exactly(conn, 2)
                    if head is None:
                        return
                    wire = _read_exactly(conn, struct.unpack("!H", head)[0])
                except OSError:
                    return
                query = _parse(wire or b"")
                if query is None:
                    return
                response = self._respond(query) or self._forwarded(query)
                out = response.to_wire()
                with contextlib.suppress(OSError):
                    conn.sendall(struct.pack("!H", len(out)) + out)

    def _respond(self, query: dns.message.Message) -> dns.message.Message | None:
        try:
            return answer(query, self._names, self._zones, next(self._turns))
        except Exception:
            log.exception("internal DNS: answering %s failed", query.question)
            return _failure(query)

    def _forwarded(self, query: dns.message.Message) -> dns.message.Message:
        """The host's resolvers' answer, tried in turn (over TCP when UDP's was cut)."""
        for server, port in self.upstream:
            if (server, port) == (self.bind, self.port):
                continue  # itself: the host's resolv.conf may name the address it listens on
            try:
                response = dns.query.udp(query, server, port=port, timeout=FORWARD_TIMEOUT)
                if response.flags & dns.flags.TC:
                    response = dns.query.tcp(query, server, port=port, timeout=FORWARD_TIMEOUT)
                return response
            except (OSError, dns.exception.DNSException):
                continue
        return _failure(query)


def _parse(wire: bytes) -> dns.message.Message | None:
    try:
        return dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return None  # not DNS: no answer, as resolvers do


def _failure(query: dns.message.Message) -> dns.message.Message:
    response = dns.message.make_response(query)
    response.set_rcode(dns.rcode.SERVFAIL)
    return response


def _read_exactly(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
