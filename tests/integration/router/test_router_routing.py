"""How requests are routed: hosts, paths, errors, balancing, retries, headers, websockets."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import pytest

from yun.router import HAProxy, Server

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)"
    ),
]

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_routes_on_host_header_ignoring_case_and_port(router, backend, http, make_route):
    hello, other = backend("hello"), backend("other")
    router.apply(
        [
            make_route("hello.apps.localhost", hello.server()),
            make_route("other.apps.localhost", other.server()),
        ]
    )

    assert http("hello.apps.localhost").served_by == "hello"
    assert http("HELLO.Apps.LocalHost:8080").served_by == "hello"
    assert http("other.apps.localhost").served_by == "other"


def test_longest_path_prefix_wins_on_segment_boundaries(router, backend, http, make_route):
    root, api, v2 = backend("root"), backend("api"), backend("v2")
    host = "hello.apps.localhost"
    router.apply(
        [
            make_route(host, root.server()),
            make_route(host, api.server(), path="/api"),
            make_route(host, v2.server(), path="/api/v2"),
        ]
    )

    assert http(host, "/").served_by == "root"
    assert http(host, "/api").served_by == "api"
    assert http(host, "/api/users?x=1").served_by == "api"
    assert http(host, "/api/v2/users").served_by == "v2"
    assert http(host, "/apix").served_by == "root"
    assert http(host, "/api/users").json["path"] == "/api/users"


def test_a_wildcard_route_takes_one_label_after_the_hosts_own_routes(
    router, backend, http, make_route
):
    www, catch_all, api, wild_api = backend("www"), backend("any"), backend("api"), backend("wapi")
    router.apply(
        [
            make_route("www.example.test", www.server()),
            make_route("www.example.test", api.server(), path="/api"),
            make_route("*.example.test", catch_all.server()),
            make_route("*.example.test", wild_api.server(), path="/api"),
        ]
    )

    assert http("www.example.test").served_by == "www"  # its own routes first
    assert http("www.example.test", "/api/x").served_by == "api"
    assert http("shop.example.test").served_by == "any"
    assert http("Shop.Example.Test:8080", "/api/x").served_by == "wapi"
    assert http("shop.example.test", "/api/x").json["path"] == "/api/x"
    assert http("a.b.example.test").status == 404  # one label, as Cloud Foundry's router
    assert http("example.test").status == 404


def test_unknown_host_is_404_with_reason(router, backend, http, make_route):
    router.apply([make_route("hello.apps.localhost", backend("hello").server())])

    reply = http("Foo.apps.localhost:8080", "/x")

    assert reply.status == 404
    assert reply.headers["x-yun-router-error"] == "unknown_route"
    assert reply.body == b"Requested route ('foo.apps.localhost') does not exist.\n"


def test_path_not_covered_by_any_route_is_404(router, backend, http, make_route):
    router.apply([make_route("hello.apps.localhost", backend("api").server(), path="/api")])

    assert http("hello.apps.localhost", "/api/x").served_by == "api"
    assert http("hello.apps.localhost", "/other").status == 404


def test_route_without_instances_is_503_with_reason(router, http, make_route):
    router.apply([make_route("empty.apps.localhost")])

    reply = http("empty.apps.localhost")

    assert reply.status == 503
    assert reply.headers["x-yun-router-error"] == "no_healthy_instances"
    assert b"empty.apps.localhost" in reply.body


def test_round_robin_reaches_every_instance(router, backend, http, make_route):
    servers = [backend(name).server() for name in ("a", "b", "c")]
    router.apply([make_route("hello.apps.localhost", *servers)])

    seen = Counter(http("hello.apps.localhost").served_by for _ in range(9))

    assert seen == {"a": 3, "b": 3, "c": 3}


def test_refused_connection_is_retried_on_another_instance(
    router, backend, http, make_route, unused_port
):
    dead = Server("dead", "127.0.0.1", unused_port)
    a, b = backend("a"), backend("b")
    router.apply([make_route("hello.apps.localhost", a.server(), dead, b.server())])

    started = time.monotonic()
    replies = [http("hello.apps.localhost") for _ in range(12)]
    elapsed = time.monotonic() - started

    assert [r.status for r in replies] == [200] * 12
    assert {r.served_by for r in replies} == {"a", "b"}
    assert elapsed < 5  # redispatched at once, not after a turn-around pause per retry


@pytest.fixture
def hang_up_server() -> Iterator[tuple[int, list[int]]]:
    """A server that reads a request, then closes without answering; counts what it read."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    seen: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                if b"\r\n\r\n" in conn.recv(65536):
                    seen.append(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], seen
    stop.set()
    thread.join()
    listener.close()


def test_request_already_sent_is_not_retried(router, backend, http, make_route, hang_up_server):
    port, seen = hang_up_server
    good = backend("good")
    router.apply(
        [make_route("hello.apps.localhost", good.server(), Server("hangup", "127.0.0.1", port))]
    )

    replies = [http("hello.apps.localhost", method="POST") for _ in range(6)]

    failed = [r for r in replies if r.status != 200]
    assert len(failed) == len(seen) == 3  # every request that reached "hangup" failed there
    assert {r.status for r in failed} == {502}
    assert {r.headers["x-yun-router-error"] for r in failed} == {"endpoint_failure"}
    assert good.hits == 3


def test_adds_forwarding_headers(router, backend, http, make_route):
    router.apply([make_route("hello.apps.localhost", backend("hello").server())])

    before = int(time.time() * 1000)
    headers = http("hello.apps.localhost").json["headers"]
    after = int(time.time() * 1000)

    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert UUID.fullmatch(headers["x-request-id"])
    assert before <= int(headers["x-request-start"]) <= after


def test_keeps_and_appends_client_supplied_headers(router, backend, http, make_route):
    router.apply([make_route("hello.apps.localhost", backend("hello").server())])

    headers = http(
        "hello.apps.localhost",
        headers={
            "X-Forwarded-For": "203.0.113.7, 10.0.0.1",
            "X-Forwarded-Proto": "https",
            "X-Request-Id": "req-42",
        },
    ).json["headers"]

    assert headers["x-forwarded-for"] == "203.0.113.7, 10.0.0.1, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-request-id"] == "req-42"


TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01")


def test_a_request_without_trace_context_gets_a_traceparent_and_one_with_it_keeps_it(
    router, backend, http, make_route
):
    router.apply([make_route("hello.apps.localhost", backend("hello").server())])

    made = [http("hello.apps.localhost").json["headers"]["traceparent"] for _ in range(3)]
    found = [TRACEPARENT.fullmatch(value) for value in made]
    assert all(found), made
    assert len({m.group(1) for m in found if m}) == 3  # a trace of its own each
    assert all(m.group(1) != "0" * 32 and m.group(2) != "0" * 16 for m in found if m)

    given = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    kept = http("hello.apps.localhost", headers={"traceparent": given}).json["headers"]
    assert kept["traceparent"] == given  # the trace goes on through the router
    broken = http("hello.apps.localhost", headers={"traceparent": "not-a-trace"}).json["headers"]
    assert TRACEPARENT.fullmatch(broken["traceparent"])  # an invalid one: a new trace


def test_each_request_gets_its_own_request_id(router, backend, http, make_route):
    router.apply([make_route("hello.apps.localhost", backend("hello").server())])

    ids = {http("hello.apps.localhost").json["headers"]["x-request-id"] for _ in range(3)}

    assert len(ids) == 3


def test_websocket_upgrade_passes_through(router, backend, websocket, make_route):
    router.apply([make_route("chat.apps.localhost", backend("chat").server())])

    client = websocket("chat.apps.localhost", "/ws")

    assert client.status == 101
    assert client.accepted
    client.send_text("hello")
    assert client.recv_text() == "chat:hello"
    client.send_text("again")
    assert client.recv_text() == "chat:again"
    client.close()


def test_headers_past_haproxys_default_room_pass_when_configured(
    router_config, backend, make_route
):
    big = "x" * 40_000  # a 40 KB cookie, as some single-sign-on setups send

    def ask(config) -> int:
        with socket.create_connection(("127.0.0.1", config.port), timeout=5) as sock:
            sock.sendall(
                f"GET / HTTP/1.1\r\nHost: big.apps.localhost\r\nCookie: {big}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            return int(sock.recv(64).split(b" ", 2)[1])

    server = backend("big").server()
    for config, expected in (
        (router_config, 400),
        (replace(router_config, max_header_bytes=65536), 200),
    ):
        proxy = HAProxy(config)
        try:
            proxy.apply([make_route("big.apps.localhost", server)])
            assert ask(config) == expected
        finally:
            proxy.stop()
