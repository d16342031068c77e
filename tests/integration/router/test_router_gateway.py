"""Gateway options through real HAProxy: a rate limit per client address lets exactly N
requests through in a window and answers the rest 429 with Retry-After; a body over the
limit gets 413; allow and deny lists answer 403 to the others."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace

import pytest

from yun.router import Policy

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)"
    ),
]

HOST = "api.apps.localhost"
WINDOW = 10


def test_exactly_n_requests_pass_in_a_window_and_the_rest_get_429(
    router, backend, http, make_route
):
    api = backend("api")
    route = make_route(HOST, api.server())
    router.apply([replace(route, policy=Policy(rate_limit=5, rate_window=WINDOW))])
    while time.time() % WINDOW > WINDOW - 3:  # all of them within one window
        time.sleep(0.1)
    answers = [http(HOST) for _ in range(8)]
    assert [a.status for a in answers] == [200] * 5 + [429] * 3
    refused = answers[-1]
    assert 1 <= int(refused.headers["retry-after"]) <= WINDOW
    assert refused.headers["x-yun-router-error"] == "rate_limited"
    time.sleep(int(refused.headers["retry-after"]) + 0.2)  # the next window
    assert http(HOST).status == 200
    # Another address is counted apart (the router sees 127.0.0.2 as a second client).
    other = http(HOST, source="127.0.0.2")
    assert other.status == 200


def test_a_body_over_the_limit_gets_413(router, backend, http, make_route):
    api = backend("api")
    route = make_route(HOST, api.server())
    router.apply([replace(route, policy=Policy(max_body=1024))])
    assert http(HOST, method="POST", body=b"x" * 1024).status == 200
    assert http(HOST, method="POST", body=b"x" * 1025).status == 413


def test_allow_and_deny_lists(router, backend, http, make_route):
    api = backend("api")
    route = make_route(HOST, api.server())
    router.apply([replace(route, policy=Policy(allow=("127.0.0.1/32",)))])
    assert http(HOST).status == 200
    assert http(HOST, source="127.0.0.2").status == 403
    router.apply([replace(route, policy=Policy(deny=("127.0.0.2/32",)))])
    assert http(HOST).status == 200
    assert http(HOST, source="127.0.0.2").status == 403


def test_cors_preflights_are_answered_and_allowed_origins_may_read(
    router, backend, http, make_route
):
    api = backend("api")
    shop = "https://shop.example.com"
    policy = Policy(cors=(shop, "http://localhost:3000"), api_keys="route-api")
    router.apply([replace(make_route(HOST, api.server()), policy=policy)], api_keys={})
    preflight = {
        "Origin": shop,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type, x-api-key",
    }
    answer = http(HOST, method="OPTIONS", headers=preflight)
    assert answer.status == 204  # before the key the route asks for: browsers send none here
    assert answer.headers["access-control-allow-origin"] == shop
    assert "PUT" in answer.headers["access-control-allow-methods"]
    assert answer.headers["access-control-allow-headers"] == "content-type, x-api-key"
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert api.hits == 0
    other = http(HOST, method="OPTIONS", headers={**preflight, "Origin": "https://evil.example"})
    assert other.status == 401 and "access-control-allow-origin" not in other.headers

    router.apply([replace(make_route(HOST, api.server()), policy=Policy(cors=(shop,)))])
    read = http(HOST, headers={"Origin": shop})
    assert read.status == 200 and read.headers["access-control-allow-origin"] == shop
    assert "Origin" in read.headers["vary"]
    assert (
        "access-control-allow-origin" not in http(HOST, headers={"Origin": "https://x.io"}).headers
    )
    router.apply([replace(make_route(HOST, api.server()), policy=Policy(cors=("*",)))])
    anyone = http(HOST, headers={"Origin": "https://x.io"})
    assert anyone.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in anyone.headers
