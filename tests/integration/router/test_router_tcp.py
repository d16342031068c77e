"""TCP routes through a real HAProxy: raw bytes to echo servers, round-robin, across reloads."""

from __future__ import annotations

import shutil
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise

import pytest
from tests.integration.router.conftest import free_port

from yun.router import HAProxy, RouterConfig, Server, TcpRoute

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)"
    ),
]


class _EchoHandler(socketserver.StreamRequestHandler):
    server: _EchoServer

    def handle(self) -> None:
        for line in self.rfile:  # until the client closes: one connection, many lines
            self.wfile.write(self.server.name.encode() + b":" + line)
            self.wfile.flush()


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.name = name


@dataclass
class Echo:
    name: str
    _server: _EchoServer
    _thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def server(self) -> Server:
        return Server(name=self.name, address="127.0.0.1", port=self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def echo() -> Iterator[Callable[[str], Echo]]:
    """echo("a") starts a TCP server answering each line with "a:" and the line."""
    started: list[Echo] = []

    def start(name: str) -> Echo:
        server = _EchoServer(name)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        started.append(Echo(name, server, thread))
        return started[-1]

    yield start
    for made in started:
        made.stop()


class Connection:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.reader = self.sock.makefile("rb")

    def ask(self, text: str) -> str:
        self.sock.sendall(text.encode() + b"\n")
        return self.reader.readline().decode().rstrip("\n")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def ask_once(port: int, text: str = "hi") -> str:
    """Who answers one line on a fresh connection through the router."""
    conn = Connection(port)
    try:
        return conn.ask(text)
    finally:
        conn.close()


@pytest.fixture
def tcp_port() -> int:
    return free_port()


def test_connections_alternate_between_instances(
    router: HAProxy, echo: Callable[[str], Echo], tcp_port: int
) -> None:
    a, b = echo("a"), echo("b")
    router.apply([], tcp_routes=[TcpRoute(tcp_port, "route-1", "echo", [a.server(), b.server()])])

    answers = [ask_once(tcp_port, f"hello {n}") for n in range(6)]

    assert {answer.split(":")[1] for answer in answers} == {f"hello {n}" for n in range(6)}
    served = [answer.split(":")[0] for answer in answers]
    assert sorted(served) == ["a"] * 3 + ["b"] * 3
    assert all(one != two for one, two in pairwise(served)), served


def test_an_instance_leaving_takes_no_reload_and_drops_nothing(
    router: HAProxy, echo: Callable[[str], Echo], tcp_port: int
) -> None:
    a, b = echo("a"), echo("b")
    both = TcpRoute(tcp_port, "route-1", "echo", [a.server(), b.server()])
    router.apply([], tcp_routes=[both])
    held = [Connection(tcp_port), Connection(tcp_port)]  # one on each instance
    assert sorted(conn.ask("x")[0] for conn in held) == ["a", "b"]
    failures: list[BaseException] = []
    stop = threading.Event()

    def keep_connecting() -> None:
        while not stop.is_set():
            try:
                ask_once(tcp_port)
            except OSError as exc:
                failures.append(exc)

    client = threading.Thread(target=keep_connecting)
    client.start()
    try:
        time.sleep(0.2)
        reloads = router.processes().reloads
        assert not router.apply(
            [], tcp_routes=[TcpRoute(tcp_port, "route-1", "echo", [a.server()])]
        )
        assert router.processes().reloads == reloads
        time.sleep(0.2)
    finally:
        stop.set()
        client.join()

    assert failures == []  # the port never stopped accepting
    assert {ask_once(tcp_port)[0] for _ in range(4)} == {"a"}
    # Connections made before stay with their instance until they end.
    assert sorted(conn.ask("still there")[0] for conn in held) == ["a", "b"]
    for conn in held:
        conn.close()


def test_a_route_without_instances_closes_connections(router: HAProxy, tcp_port: int) -> None:
    router.apply([], tcp_routes=[TcpRoute(tcp_port, "route-1", "idle", [])])

    conn = Connection(tcp_port)  # the router still holds the port...
    try:
        conn.sock.sendall(b"anyone?\n")
        assert conn.reader.readline() == b""  # ...and closes what it cannot forward
    finally:
        conn.close()


def test_a_deleted_route_gives_its_port_back(
    router: HAProxy, echo: Callable[[str], Echo], tcp_port: int
) -> None:
    a = echo("a")
    router.apply([], tcp_routes=[TcpRoute(tcp_port, "route-1", "echo", [a.server()])])
    assert ask_once(tcp_port) == "a:hi"

    router.apply([])

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", tcp_port), timeout=5).close()


def test_tcp_servers_do_not_hide_http_response_counts(
    router: HAProxy,
    router_config: RouterConfig,
    echo: Callable[[str], Echo],
    backend: Callable[[str], object],
    http: Callable[..., object],
    make_route: Callable[..., object],
    tcp_port: int,
) -> None:
    web = backend("web")
    tcp = echo("web")  # the same instance name in both: one instance serves HTTP and TCP
    router.apply(
        [make_route("web.apps.localhost", web.server())],  # type: ignore[attr-defined]
        tcp_routes=[TcpRoute(tcp_port, "route-1", "web", [tcp.server()])],
    )
    for _ in range(3):
        http("web.apps.localhost")
    assert ask_once(tcp_port) == "web:hi"

    assert router.response_counts()["web"] == (3, 0)
