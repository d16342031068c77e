import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from yun.agent import HealthCheckSpec
from yun.agent.health import REFUSED, Check, check_ports, probe, timeout_reason


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
    assert probe(HealthCheckSpec(type="port"), address="127.0.0.1", port=server).healthy
    closed = probe(HealthCheckSpec(type="port"), address="127.0.0.1", port=_closed_port())
    assert closed == Check(healthy=False, failure=REFUSED)


def test_port_checks_of_many_instances_at_once_keep_their_order() -> None:
    """Accepted, refused (IPv4 and IPv6, by name too) and a listener whose queue is full, which
    lets the connection time out: each check says what it saw, in the order asked."""
    accepting = socket.socket()
    accepting.bind(("127.0.0.1", 0))
    accepting.listen()
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    waiting = []
    for _ in range(3):  # fill the accept queue: the next connection's SYN is dropped
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(full.getsockname())
        waiting.append(client)
    time.sleep(0.1)
    port, full_port = accepting.getsockname()[1], full.getsockname()[1]
    try:
        checks = check_ports(
            [
                ("127.0.0.1", port, 1.0),
                ("127.0.0.1", _closed_port(), 1.0),
                ("127.0.0.1", full_port, 0.3),
                ("::1", _closed_port(), 1.0),
                ("localhost", port, 1.0),
            ]
        )
    finally:
        for sock in (accepting, full, *waiting):
            sock.close()
    assert checks == [
        Check(healthy=True),
        Check(healthy=False, failure=REFUSED),
        Check(healthy=False, failure="timed out after 0.3s"),
        Check(healthy=False, failure=REFUSED),
        Check(healthy=True),
    ]
    assert check_ports([]) == []


@pytest.mark.parametrize(
    ("endpoint", "answer"),
    [("/ok", None), ("/fail", "500 Internal Server Error"), ("/moved", "302 Found")],
)
def test_http_check_needs_a_200(server: int, endpoint: str, answer: str | None) -> None:
    spec = HealthCheckSpec(type="http", endpoint=endpoint)
    check = probe(spec, address="127.0.0.1", port=server)
    assert check.healthy is (answer is None)
    assert check.answer == answer


def test_http_check_needs_an_answer_within_the_invocation_timeout(server: int) -> None:
    slow = HealthCheckSpec(type="http", endpoint="/slow")
    assert probe(slow, address="127.0.0.1", port=server).healthy
    quick = HealthCheckSpec(type="http", endpoint="/slow", invocation_timeout=0.1)
    check = probe(quick, address="127.0.0.1", port=server)
    assert check == Check(healthy=False, failure="timed out after 0.1s")


def test_http_check_on_a_closed_port() -> None:
    check = probe(HealthCheckSpec(type="http"), address="127.0.0.1", port=_closed_port())
    assert check == Check(healthy=False, failure=REFUSED)


def test_process_check_needs_no_port() -> None:
    assert probe(HealthCheckSpec(type="process"), address=None, port=None).healthy
    assert not probe(HealthCheckSpec(type="port"), address=None, port=None).healthy


# What a user reads when an instance never became healthy (`yun push`, `yun app`, `yun events`).

PORT_CHECK = HealthCheckSpec(type="port", timeout=10)
HTTP_CHECK = HealthCheckSpec(type="http", endpoint="health", timeout=10)
REFUSAL = Check(healthy=False, failure=REFUSED)


@pytest.mark.parametrize(
    ("health", "last", "listening", "reason"),
    [
        (
            PORT_CHECK,
            REFUSAL,
            set(),
            "nothing accepted connections on port 8080 ($PORT) within 10s",
        ),
        (
            PORT_CHECK,
            REFUSAL,
            {5000},
            "nothing accepted connections on port 8080 ($PORT) within 10s; "
            "the app listens on port 5000 instead: make it listen on $PORT (8080)",
        ),
        (
            PORT_CHECK,
            REFUSAL,
            {5002, 5000, 5001},
            "nothing accepted connections on port 8080 ($PORT) within 10s; "
            "the app listens on ports 5000, 5001 and 5002 instead: make it listen on $PORT (8080)",
        ),
        (
            PORT_CHECK,
            REFUSAL,
            set(range(5000, 5006)),
            "nothing accepted connections on port 8080 ($PORT) within 10s; "
            "the app listens on ports 5000, 5001, 5002, 5003 and 2 more instead: "
            "make it listen on $PORT (8080)",
        ),
        (
            PORT_CHECK,
            Check(healthy=False, failure="timed out after 1s"),
            {8080, 5000},  # it listens on $PORT too: another port is no explanation
            "nothing accepted connections on port 8080 ($PORT) within 10s: "
            "the last try timed out after 1s",
        ),
        (
            HTTP_CHECK,
            Check(healthy=False, answer="500 Internal Server Error"),
            {8080},
            "GET /health never answered 200 within 10s: it answered 500 Internal Server Error",
        ),
        (
            HTTP_CHECK,
            REFUSAL,
            set(),
            "GET /health never answered 200 within 10s: connection refused on port 8080 ($PORT)",
        ),
        (
            HTTP_CHECK,
            REFUSAL,
            {5000},
            "GET /health never answered 200 within 10s: connection refused on port 8080 ($PORT); "
            "the app listens on port 5000 instead: make it listen on $PORT (8080)",
        ),
        (
            HTTP_CHECK,
            Check(healthy=False, failure="failed: Remote end closed connection without response"),
            {8080},
            "GET /health never answered 200 within 10s: the last try on port 8080 ($PORT) "
            "failed: Remote end closed connection without response",
        ),
        (PORT_CHECK, None, {5000}, "did not become healthy within 10s"),  # never checked
    ],
)
def test_timeout_reason_says_what_the_last_check_saw(
    health: HealthCheckSpec, last: Check | None, listening: set[int], reason: str
) -> None:
    assert timeout_reason(health, last, port=8080, listening=listening) == reason


def test_timeout_reason_of_a_real_check_of_an_app_listening_elsewhere(server: int) -> None:
    port = _closed_port()
    last = probe(PORT_CHECK, address="127.0.0.1", port=port)
    reason = timeout_reason(PORT_CHECK, last, port=port, listening={server})
    assert reason == (
        f"nothing accepted connections on port {port} ($PORT) within 10s; "
        f"the app listens on port {server} instead: make it listen on $PORT ({port})"
    )
