"""Real HAProxy in front of tiny named HTTP backends, all on free loopback ports.

Each backend answers every request with JSON naming itself, the path and the headers it
received, and echoes websocket frames after an upgrade, so tests can see where a request went
and what the router did to it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from yun.router import HAProxy, Route, RouterConfig, Server

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ws_frame(payload: bytes, *, opcode: int = 1, mask: bytes | None = None) -> bytes:
    head = bytes([0x80 | opcode])
    bit = 0x80 if mask else 0
    if len(payload) < 126:
        head += bytes([bit | len(payload)])
    else:
        head += bytes([bit | 126]) + struct.pack("!H", len(payload))
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def ws_read(read: Callable[[int], bytes]) -> tuple[int, bytes]:
    first, second = read(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", read(2))
    mask = read(4) if second & 0x80 else None
    payload = read(length)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return first & 0x0F, payload


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    server: _NamedServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        self.server.hits += 1
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self._websocket()
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/slow"):
            # A long request, for least-connection balancing and timeouts: 1.5 s, or ?s=SECONDS.
            seconds = self.path.partition("?s=")[2]
            time.sleep(float(seconds) if seconds else 1.5)
        body = json.dumps(
            {
                "name": self.server.name,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }
        ).encode()
        # A failing server fails the requests clients send (with a Host), not bare probes.
        failing = self.server.failing and (self.server.failing == "all" or "Host" in self.headers)
        self.send_response(500 if self.path.startswith("/fail") or failing else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.path.startswith("/login"):
            self.send_header("Set-Cookie", f"JSESSIONID=session-of-{self.server.name}; Path=/")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def _websocket(self) -> None:
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        while True:
            opcode, payload = ws_read(self.rfile.read)
            if opcode == 8:
                self.wfile.write(ws_frame(payload, opcode=8))
                break
            self.wfile.write(ws_frame(self.server.name.encode() + b":" + payload))
            self.wfile.flush()
        self.close_connection = True


class _NamedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.name = name
        self.hits = 0
        # Answers of 500, as an instance in trouble gives: "all", or "requests" (not probes).
        self.failing = ""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # HAProxy closing idle keep-alive connections is not an error worth printing


@dataclass
class Backend:
    name: str
    _server: _NamedServer
    _thread: threading.Thread = field(init=False)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def hits(self) -> int:
        return self._server.hits

    def fail(self, what: str = "all") -> None:
        """Answer 500 to everything ("all"), to clients' requests only ("requests": probes
        still pass), or to nothing ("")."""
        self._server.failing = what

    def server(self, name: str | None = None) -> Server:
        return Server(name=name or self.name, address="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def crash(self) -> None:
        """Stop accepting at once, as a process that dies does (the kernel refuses connections
        from then on); requests already being answered still finish."""
        self._server.socket.close()
        self.stop()


@pytest.fixture
def backend() -> Iterator[Callable[[str], Backend]]:
    """Factory: backend("a") starts a backend that answers as "a"; all stop after the test."""
    started: list[Backend] = []

    def start(name: str) -> Backend:
        made = Backend(name, _NamedServer(name))
        made.start()
        started.append(made)
        return made

    yield start
    for made in started:
        made.stop()


@pytest.fixture
def run_dir() -> Iterator[Path]:
    # Short path: HAProxy's UNIX sockets live here and paths are limited to 107 bytes.
    with tempfile.TemporaryDirectory(prefix="yun-router-") as path:
        yield Path(path)


@pytest.fixture
def router_config(run_dir: Path) -> RouterConfig:
    key = base64.b64encode(os.urandom(32)).decode()
    return RouterConfig(bind="127.0.0.1", port=free_port(), run_dir=run_dir, route_service_key=key)


@pytest.fixture
def https(router_config: RouterConfig) -> Iterator[tuple[HAProxy, RouterConfig]]:
    """A router with an HTTPS port too (no route, no certificate yet)."""
    config = replace(router_config, https_port=free_port())
    proxy = HAProxy(config)
    yield proxy, config
    proxy.stop()


@pytest.fixture
def router(router_config: RouterConfig) -> Iterator[HAProxy]:
    proxy = HAProxy(router_config)
    yield proxy
    proxy.stop()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def served_by(self) -> str:
        return str(self.json["name"])


Http = Callable[..., Reply]


@pytest.fixture
def http(router_config: RouterConfig) -> Http:
    """http(host, path="/", headers={}, method, body=, source=) → Reply, over a fresh
    connection to the router (from the `source` address, if given)."""

    def get(
        host: str,
        path: str = "/",
        headers: dict[str, str] | None = None,
        method: str = "GET",
        *,
        body: bytes | None = None,
        source: str = "",
    ) -> Reply:
        address = (source, 0) if source else None  # another loopback address: another client
        conn = HTTPConnection("127.0.0.1", router_config.port, timeout=10, source_address=address)
        try:
            conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
            response = conn.getresponse()
            body = response.read()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
        finally:
            conn.close()

    return get


def route(host: str, *servers: Server, path: str = "", backend: str = "", app: str = "") -> Route:
    """A Route with defaults derived from the host, for brevity in tests."""
    name = host.split(".")[0]
    return Route(
        host=host,
        path=path,
        backend=backend or f"guid-{name}{path.replace('/', '-')}",
        app_name=app or name,
        servers=list(servers),
    )


@pytest.fixture
def make_route() -> Callable[..., Route]:
    return route


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def wait_for() -> Callable[..., bool]:
    """wait_for(condition, timeout=5.0) → whether it became true in time."""
    return _wait_for


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    return free_port()


class WebSocketClient:
    """Just enough of RFC 6455 to upgrade through the router and exchange text frames."""

    def __init__(self, port: int, host: str, path: str = "/", *, cafile: str = "") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if cafile:  # over TLS, trusting that CA, asking for the host by SNI
            context = ssl.create_default_context(cafile=cafile)
            context.set_alpn_protocols(["http/1.1"])
            self.sock = context.wrap_socket(self.sock, server_hostname=host)
        self.reader = self.sock.makefile("rb")
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = self.reader.readline()
            if not line:
                break
            head += line
        self.status = int(head.split(b" ", 2)[1]) if head else 0
        expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest())
        self.accepted = expected in head

    def send_text(self, text: str) -> None:
        self.sock.sendall(ws_frame(text.encode(), mask=os.urandom(4)))

    def recv_text(self) -> str:
        _, payload = ws_read(self.reader.read)
        return payload.decode()

    def close(self) -> None:
        try:
            self.sock.sendall(ws_frame(b"", opcode=8, mask=os.urandom(4)))
            ws_read(self.reader.read)
        finally:
            self.reader.close()
            self.sock.close()


@pytest.fixture
def websocket(router_config: RouterConfig) -> Iterator[Callable[..., WebSocketClient]]:
    """websocket(host, path="/") → an upgraded connection through the router."""
    opened: list[WebSocketClient] = []

    def connect(host: str, path: str = "/") -> WebSocketClient:
        client = WebSocketClient(router_config.port, host, path)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        client.reader.close()
        client.sock.close()
