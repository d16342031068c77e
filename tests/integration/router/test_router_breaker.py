"""A route's circuit breaker through real HAProxy: an instance answering 500 is taken out after
N failed probes (or N errors on requests that could not be sent again) while clients see no
error (their idempotent requests are sent again to a healthy instance), and is let back in
after its cool-down once it answers again; requests that are not idempotent are never sent
twice."""

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


def test_a_failing_instance_is_taken_out_unseen_and_let_back_in(router, backend, http, make_route):
    a, b, c = backend("a"), backend("b"), backend("c")
    route = make_route(HOST, a.server(), b.server(), c.server())
    router.apply([replace(route, policy=Policy(breaker_errors=3, breaker_cooldown=4))])
    assert {http(HOST).served_by for _ in range(6)} == {"a", "b", "c"}
    c.fail()
    failing_since = time.monotonic()
    seen = []
    while time.monotonic() - failing_since < 5:  # 3 failed probes a second apart take it out
        seen.append(http(HOST))
        time.sleep(0.02)
    assert {r.status for r in seen} == {200}  # its 500s were sent again to the others
    assert {r.served_by for r in seen} == {"a", "b"}
    taken_out = c.hits
    while time.monotonic() - failing_since < 7:  # taken out: no request reaches it
        assert http(HOST).status == 200
    assert c.hits - taken_out <= 1  # its probes, at most one within the cool-down

    c.fail("")  # it recovers: after the cool-down a probe lets it back in
    deadline = time.monotonic() + 10
    while http(HOST).served_by != "c":
        assert time.monotonic() < deadline, "the instance was never let back in"
        time.sleep(0.1)


def test_requests_that_are_not_idempotent_are_not_sent_again(router, backend, http, make_route):
    a, b = backend("a"), backend("b")
    route = make_route(HOST, a.server(), b.server())
    router.apply([replace(route, policy=Policy(breaker_errors=100, retries=2))])
    b.fail("requests")  # its probes pass, so it stays in
    posts = [http(HOST, method="POST", body=b"order") for _ in range(10)]
    assert [r.status for r in posts].count(500) == 5  # b's answers reach the client as they are
    hits = b.hits
    gets = [http(HOST) for _ in range(10)]
    assert {(r.status, r.served_by) for r in gets} == {(200, "a")}  # b's 500s sent again to a
    assert b.hits >= hits + 5  # b was tried: 100 errors in a row are far off
