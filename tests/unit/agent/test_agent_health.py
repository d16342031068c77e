import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from yun.agent import HealthCheckSpec
from yun.agent.health import probe


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(0.5)
        status = {"/ok": 200, "/slow": 200, "/moved": 302}.get(self.path, 500)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_port_check(server: int) -> None:
    assert probe(HealthCheckSpec(type="port"), address="127.0.0.1", port=server)
    assert not probe(HealthCheckSpec(type="port"), address="127.0.0.1", port=_closed_port())


@pytest.mark.parametrize(
    ("endpoint", "healthy"), [("/ok", True), ("/fail", False), ("/moved", False)]
)
def test_http_check_needs_a_200(server: int, endpoint: str, healthy: bool) -> None:
    spec = HealthCheckSpec(type="http", endpoint=endpoint)
    assert probe(spec, address="127.0.0.1", port=server) is healthy


def test_http_check_needs_an_answer_within_the_invocation_timeout(server: int) -> None:
    assert probe(HealthCheckSpec(type="http", endpoint="/slow"), address="127.0.0.1", port=server)
    quick = HealthCheckSpec(type="http", endpoint="/slow", invocation_timeout=0.1)
    assert not probe(quick, address="127.0.0.1", port=server)


def test_http_check_on_a_closed_port() -> None:
    assert not probe(HealthCheckSpec(type="http"), address="127.0.0.1", port=_closed_port())


def test_process_check_needs_no_port() -> None:
    assert probe(HealthCheckSpec(type="process"), address=None, port=None)
    assert not probe(HealthCheckSpec(type="port"), address=None, port=None)
