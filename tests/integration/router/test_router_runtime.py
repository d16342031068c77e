"""Instances come and go through HAProxy's runtime API: no reload, no failed request.

A real HAProxy serves named loopback backends while clients keep requesting (some on kept-alive
connections, some on new ones). Scaling, a crash, canary weights and a restarted manager change
server slots at run time; only a new route reloads.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.client import HTTPConnection, HTTPException

from yun.controllers.routing import split_weights
from yun.router import HAProxy, Server

HOST = "load.apps.localhost"


class Load:
    """Clients requesting HOST until stopped; what each answer was, and who served it (counted
    only for requests sent since the last `take`, so one in flight then is not counted)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.failures: list[str] = []
        self.served: Counter[str] = Counter()
        self._generation = 0
        self.phase = ""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._fire, kwargs={"keep_alive": keep_alive})
            for keep_alive in (True, True, False, False)
        ]

    def _fire(self, *, keep_alive: bool) -> None:
        conn: HTTPConnection | None = None
        while not self._stop.is_set():
            generation = self._generation
            try:
                conn = conn or HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", "/", headers={"Host": HOST})
                response = conn.getresponse()
                body = response.read()
                with self._lock:
                    if response.status == 200 and generation != self._generation:
                        pass  # sent before the last take: it may have gone anywhere
                    elif response.status == 200:
                        self.served[body.split(b'"name": "')[1].split(b'"')[0].decode()] += 1
                    else:
                        self.failures.append(f"{response.status} {body[:80]!r} {self.phase}")
                if not keep_alive or response.will_close:
                    conn.close()
                    conn = None
            except (OSError, HTTPException) as exc:
                with self._lock:
                    self.failures.append(type(exc).__name__)
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def take(self) -> Counter[str]:
        """Who served since the last call."""
        with self._lock:
            served, self.served = self.served, Counter()
            self._generation += 1
        return served

    def wait_for(self, count: int) -> None:
        """Until at least `count` more requests were answered."""
        start = sum(self.served.values())
        deadline = threading.Event()
        for _ in range(500):
            if sum(self.served.values()) - start >= count:
                return
            deadline.wait(0.01)

    @contextmanager
    def running(self) -> Iterator[Load]:
        for thread in self._threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join()


def indexed(servers: list[Server]) -> list[Server]:
    return [replace(server, instance=str(n)) for n, server in enumerate(servers)]


def test_scaling_a_crash_and_canary_weights_take_no_reload_and_lose_nothing_else(
    router: HAProxy, router_config, backend, make_route
) -> None:
    olds = [backend(f"old{n}") for n in range(10)]
    news = [backend(f"new{n}") for n in range(2)]
    apply: Callable[..., bool] = lambda *servers: router.apply([make_route(HOST, *servers)])  # noqa: E731
    assert apply(olds[0].server())
    reloads = router.processes().reloads

    with Load(router_config.port).running() as load:
        load.wait_for(50)
        for count in (2, 5, 10, 4, 1, 3):  # scale 1 → 10 → 1, then to 3
            load.phase = f"scale {count}"
            assert apply(*(b.server() for b in olds[:count])) is False
            load.take()
            load.wait_for(100)
            got = load.take()
            assert set(got) == {b.name for b in olds[:count]}, (count, got)
        load.phase = "crash"
        olds[1].crash()  # its port refuses until Yun takes it out: those are tried elsewhere
        load.wait_for(50)
        assert apply(olds[0].server(), olds[2].server()) is False
        load.phase = "after the crash"
        for percent in (10, 50):
            load.phase = f"canary {percent}"
            weight_old, weight_new = split_weights(2, 2, percent)
            servers = [replace(olds[n].server(), weight=weight_old) for n in (0, 2)]
            servers += [replace(b.server(), weight=weight_new) for b in news]
            assert apply(*servers) is False
            load.take()
            load.wait_for(400)
            served = load.take()
            share = sum(served[b.name] for b in news) / sum(served.values())
            assert abs(share - percent / 100) < 0.12, (percent, served)
        assert router.processes().reloads == reloads  # not one reload so far

        # A new route is a layout change: one reload, and still nothing lost.
        other = make_route("other.apps.localhost", olds[3].server())
        assert router.apply([make_route(HOST, *servers), other]) is True
        load.wait_for(100)

    # Requests the crashing instance had already taken (accepted, or queued in its listen
    # backlog) die with it: the router does not replay a request it has sent (see
    # yun.router.config). Nothing else fails.
    assert [f for f in load.failures if not f.startswith("502 ") or not f.endswith(" crash")] == []
    assert len(load.failures) <= 8
    assert router.processes().reloads == reloads + 1


def test_sticky_sessions_and_named_instances_follow_runtime_changes(
    router: HAProxy, backend, http, make_route
) -> None:
    a, b, c = backend("a"), backend("b"), backend("c")
    router.apply([make_route(HOST, *indexed([a.server()]))])
    reloads = router.processes().reloads
    router.apply([make_route(HOST, *indexed([a.server(), b.server()]))])

    assert http(HOST, headers={"X-Yun-App-Instance": "1"}).served_by == "b"
    assert http(HOST, headers={"X-CF-APP-INSTANCE": "some-guid:0"}).served_by == "a"
    missing = http(HOST, headers={"X-Yun-App-Instance": "7"})
    assert missing.status == 404
    assert missing.headers["x-yun-router-error"] == "unknown_instance"

    login = http(HOST, "/login")
    cookie = login.headers["set-cookie"].split(";")[0]
    assert cookie.startswith("__VCAP_ID__=")
    sticky = {http(HOST, headers={"Cookie": cookie}).served_by for _ in range(6)}
    assert sticky == {login.served_by}

    # Instance 1 leaves, c takes index 1 in another slot: names follow, the old cookie of a
    # gone instance falls back to the others.
    router.apply([make_route(HOST, *indexed([a.server(), c.server()]))])
    assert http(HOST, headers={"X-Yun-App-Instance": "1"}).served_by == "c"
    assert {http(HOST).served_by for _ in range(4)} == {"a", "c"}
    router.apply([make_route(HOST, *indexed([a.server()]))])
    assert http(HOST, headers={"X-Yun-App-Instance": "1"}).status == 404
    assert router.processes().reloads == reloads


def test_a_restarted_manager_reads_back_what_haproxy_serves(
    router: HAProxy, router_config, backend, http, make_route
) -> None:
    a, b, c = backend("a"), backend("b"), backend("c")
    router.apply([make_route(HOST, a.server(), b.server())])
    router.apply([make_route(HOST, a.server())])  # at run time: b is not in the config file
    reloads = router.processes().reloads

    restarted = HAProxy(router_config)  # yun server restarted, HAProxy kept serving
    alias = make_route(
        "alias.apps.localhost", a.server(), c.server(), backend="guid-load", app="load"
    )
    assert restarted.apply([make_route(HOST, a.server(), c.server()), alias]) is False

    assert {http(HOST).served_by for _ in range(6)} == {"a", "c"}
    assert http("alias.apps.localhost").served_by in ("a", "c")  # a host added at run time
    assert restarted.processes().reloads == reloads
    assert restarted.response_counts().keys() <= {"a", "c"}


def test_haproxy_restarted_starts_with_the_servers_of_the_moment(
    router: HAProxy, backend, http, make_route
) -> None:
    a, b, c = backend("a"), backend("b"), backend("c")
    router.apply([make_route(HOST, a.server(), b.server())])
    router.apply([make_route(HOST, a.server(), c.server())])
    router.stop()

    assert router.apply([make_route(HOST, a.server(), c.server())]) is True  # started again
    assert {http(HOST).served_by for _ in range(6)} == {"a", "c"}
