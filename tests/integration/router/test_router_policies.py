"""Traffic policies through real HAProxy: weights, instance targeting, sticky sessions, hashing
on a header, least-connection and per-route timeouts."""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from dataclasses import replace

import pytest

from yun.router import Policy, Server

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)"
    ),
]

HOST = "app.apps.localhost"


def served(http, count: int, **kwargs) -> Counter[str]:
    return Counter(http(HOST, **kwargs).served_by for _ in range(count))


def test_weights_split_requests_exactly(router, backend, http, make_route):
    old, new = backend("old"), backend("new")
    router.apply(
        [make_route(HOST, replace(old.server(), weight=9), replace(new.server(), weight=1))]
    )
    counts = served(http, 500)
    assert counts["new"] == 50  # smooth weighted round-robin: one in ten, every ten


def test_a_zero_weight_instance_takes_no_requests(router, backend, http, make_route):
    live, standby = backend("live"), backend("standby")
    router.apply([make_route(HOST, live.server(), replace(standby.server(), weight=0))])
    assert served(http, 20) == Counter({"live": 20})


def test_a_header_targets_one_instance_or_gets_404(router, backend, http, make_route):
    zero, one = backend("zero"), backend("one")
    router.apply(
        [
            make_route(
                HOST, replace(zero.server(), instance="0"), replace(one.server(), instance="1")
            )
        ]
    )
    assert served(http, 6, headers={"X-Yun-App-Instance": "1"}) == Counter({"one": 6})
    assert served(http, 6, headers={"X-CF-APP-INSTANCE": "some-app-guid:0"}) == Counter({"zero": 6})
    missing = http(HOST, headers={"X-Yun-App-Instance": "7"})
    assert missing.status == 404
    assert missing.headers["x-yun-router-error"] == "unknown_instance"
    assert b"('7')" in missing.body


def test_a_session_cookie_keeps_a_client_on_its_instance(router, backend, http, make_route):
    a, b = backend("a"), backend("b")
    router.apply([make_route(HOST, a.server(), b.server())])
    assert set(served(http, 4)) == {"a", "b"}  # no cookie: round-robin
    login = http(HOST, "/login")
    first = login.served_by
    cookie = login.headers["set-cookie"]
    assert "__VCAP_ID__=" in cookie
    vcap_id = cookie.split("__VCAP_ID__=")[1].split(";")[0]
    sticky = {"Cookie": f"JSESSIONID=session-of-{first}; __VCAP_ID__={vcap_id}"}
    assert served(http, 8, headers=sticky) == Counter({first: 8})


def test_without_stickiness_no_cookie_is_set(router, backend, http, make_route):
    a, b = backend("a"), backend("b")
    route = replace(make_route(HOST, a.server(), b.server()), policy=Policy(sticky=False))
    router.apply([route])
    assert "__VCAP_ID__" not in http(HOST, "/login").headers.get("set-cookie", "")


def test_hashing_on_a_header_keeps_each_value_on_one_instance(router, backend, http, make_route):
    servers = [backend(name).server() for name in ("a", "b", "c")]
    policy = Policy(balance="hash", hash_header="X-User")
    router.apply([replace(make_route(HOST, *servers), policy=policy)])
    chosen = {}
    for user in range(20):
        seen = served(http, 3, headers={"X-User": f"user-{user}"})
        assert len(seen) == 1, seen  # the same user always lands on the same instance
        chosen[user] = next(iter(seen))
    assert len(set(chosen.values())) >= 2  # and users spread over instances


def test_least_connection_avoids_the_busy_instance(router, backend, http, make_route):
    a, b = backend("a"), backend("b")
    policy = Policy(balance="least-connection")
    router.apply([replace(make_route(HOST, a.server(), b.server()), policy=policy)])
    busy: list[str] = []
    # Long enough that the five others finish while it runs, even on a loaded machine.
    slow = threading.Thread(target=lambda: busy.append(http(HOST, "/slow?s=8").served_by))
    slow.start()
    try:
        while a.hits + b.hits == 0:
            threading.Event().wait(0.01)
        taken = "a" if a.hits else "b"
        others = served(http, 5)
        assert slow.is_alive()  # else the busy instance was not busy for all five
    finally:
        slow.join()
    assert busy == [taken]
    assert others == Counter({("b" if taken == "a" else "a"): 5})


def test_a_route_timeout_answers_504(router, backend, http, make_route):
    route = replace(make_route(HOST, backend("slow").server()), policy=Policy(timeout=0.5))
    router.apply([route])
    reply = http(HOST, "/slow")
    assert reply.status == 504
    assert reply.headers["x-yun-router-error"] == "endpoint_failure"


def test_servers_are_named_in_the_config_it_checks(router, backend, make_route):
    bad = Policy(balance="hash", hash_header="")
    with pytest.raises(ValueError, match="hash_header"):
        router.apply([replace(make_route(HOST, Server("s", "127.0.0.1", 1)), policy=bad)])


def test_response_counts_per_server_feed_the_canary_check(router, backend, http, make_route):
    good, bad = backend("good"), backend("bad")
    router.apply([make_route(HOST, good.server("v1-0"), bad.server("v2-0"))])
    for _ in range(10):
        http(HOST)  # round-robin: five each
    for _ in range(4):
        http(HOST, "/fail")  # two 500s each
    counts = router.response_counts()
    assert counts["v1-0"] == (7, 2)
    assert counts["v2-0"] == (7, 2)
