"""Cloud Foundry route services through real HAProxy: a request to a route with a route service
reaches the service first, with the URL it was going to and a signature; the service sends it
on and it reaches the app; a signature the router did not make, one for another path, or an
old one gets 403."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from tests.route_service import RouteService

from yun.router import Policy

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)"
    ),
]

HOST = "api.apps.localhost"


@pytest.fixture
def route_service(router_config) -> Iterator[RouteService]:
    service = RouteService(router_config.port)
    thread = threading.Thread(target=service.serve_forever, daemon=True)
    thread.start()
    yield service
    service.shutdown()
    service.server_close()


def signature(key: str, when: int, base: str) -> str:
    mac = hmac.new(base64.b64decode(key), f"{when}|{base}".encode(), hashlib.sha256).digest()
    return f"{when}.{base64.b64encode(mac).decode()}"


def test_requests_go_through_the_route_service_and_come_back_signed(
    router, router_config, backend, http, make_route, route_service
):
    api = backend("api")
    url = f"http://127.0.0.1:{route_service.server_port}/gate"
    router.apply([replace(make_route(HOST, api.server()), policy=Policy(route_service=url))])

    answer = http(HOST, path="/items?color=red", headers={"X-Request-Id": "req-1"})
    assert answer.status == 200 and answer.headers["x-route-service"] == "seen"
    assert answer.json["path"] == "/items?color=red"  # the app got the original request
    (seen,) = route_service.seen
    assert seen["path"] == "/gate?color=red"  # its own path, the query as sent
    assert seen["headers"]["x-cf-forwarded-url"] == f"http://{HOST}/items?color=red"
    assert seen["headers"]["x-cf-proxy-metadata"] == "req-1"
    when, _, mac = seen["headers"]["x-cf-proxy-signature"].partition(".")
    assert abs(int(when) - time.time()) < 5 and mac

    key = router_config.route_service_key
    now = int(time.time())
    assert (
        http(
            HOST, path="/x", headers={"X-CF-Proxy-Signature": signature(key, now, f"{HOST}/x")}
        ).status
        == 200
    )
    hits = api.hits
    refused = {
        "made up": "123.abc",
        "another path": signature(key, now, f"{HOST}/other"),
        "too old": signature(key, now - 120, f"{HOST}/x"),
        "another key": signature(base64.b64encode(b"k" * 32).decode(), now, f"{HOST}/x"),
    }
    for what, value in refused.items():
        got = http(HOST, path="/x", headers={"X-CF-Proxy-Signature": value})
        assert got.status == 403, what
        assert got.headers["x-yun-router-error"] == "route_service", what
    assert api.hits == hits
    assert json.loads(http(HOST).body)["path"] == "/"  # and the way round still works


def test_the_gateway_counts_and_checks_a_request_once_not_again_when_it_comes_back(
    router, backend, http, make_route, route_service
):
    api = backend("api")
    url = f"http://127.0.0.1:{route_service.server_port}/gate"
    policy = Policy(route_service=url, rate_limit=3, rate_window=60, max_body=1000)
    router.apply([replace(make_route(HOST, api.server()), policy=policy)])
    statuses = [http(HOST, path=f"/n{n}").status for n in range(4)]
    assert statuses == [200, 200, 200, 429]  # each client request counted once
    assert len(route_service.seen) == 3
    assert api.hits == 3
