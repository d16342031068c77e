"""Running HAProxy: start, seamless reload, rejected configs, adoption, stop, stats."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from dataclasses import replace
from http.client import HTTPConnection, HTTPException
from pathlib import Path

import pytest

from yun.router import HAProxy, Policy, RouterConfigError, Server
from yun.router.routes import backend_id

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)"
    ),
]


def _process_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_apply_starts_haproxy_and_skips_unchanged_routes(router, backend, http, make_route):
    routes = [make_route("hello.apps.localhost", backend("hello").server())]

    assert not router.running()
    assert router.apply(routes) is True
    pid = router.pid()

    assert router.running() and pid is not None
    assert router.apply(routes) is False
    assert router.pid() == pid
    assert http("hello.apps.localhost").served_by == "hello"


def test_reloads_under_continuous_load_drop_nothing(router, backend, router_config, make_route):
    a, b, c = (backend(name) for name in ("a", "b", "c"))
    host = "load.apps.localhost"
    router.apply([make_route(host, a.server(), b.server())])
    stop = threading.Event()
    outcomes: list[str] = []

    def fire(*, keep_alive: bool) -> None:
        # New connections test the listener handover; kept-alive ones test that draining workers
        # answer the request in flight (with Connection: close) rather than drop idle sockets.
        conn: HTTPConnection | None = None
        while not stop.is_set():
            try:
                conn = conn or HTTPConnection("127.0.0.1", router_config.port, timeout=5)
                conn.request("GET", "/", headers={"Host": host})
                response = conn.getresponse()
                response.read()
                outcomes.append(str(response.status))
                if not keep_alive or response.will_close:
                    conn.close()
                    conn = None
            except (OSError, HTTPException) as exc:
                outcomes.append(type(exc).__name__)
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    clients = [
        threading.Thread(target=fire, kwargs={"keep_alive": keep_alive})
        for keep_alive in (True, True, False, False)
    ]
    for client in clients:
        client.start()
    try:
        server_sets = [(b, c), (c, a), (a,), (a, b, c), (a, b)]
        for i in range(10):
            chosen = server_sets[i % len(server_sets)]
            # A policy changes each time: that takes a reload (a new set of servers alone
            # would not; see test_router_runtime.py).
            route = make_route(host, *(s.server() for s in chosen))
            assert router.apply([replace(route, policy=Policy(timeout=10 + i))])
    finally:
        stop.set()
        for client in clients:
            client.join()

    failures = [outcome for outcome in outcomes if outcome != "200"]
    assert failures == []
    assert len(outcomes) > 100
    assert router.processes().reloads == 10


def test_invalid_config_is_rejected_and_old_one_keeps_serving(
    router, run_dir, backend, http, make_route
):
    router.apply([make_route("hello.apps.localhost", backend("hello").server())])
    before = router.config_path.read_text()
    hosts = (run_dir / "hosts.map").read_text()
    broken = Server("idx-0", "no-such-host.invalid", 8080)

    with pytest.raises(RouterConfigError, match=r"no-such-host\.invalid"):
        router.apply([make_route("broken.apps.localhost", broken)])

    assert router.config_path.read_text() == before
    assert (run_dir / "hosts.map").read_text() == hosts  # what a later reload would load
    assert http("hello.apps.localhost").served_by == "hello"
    assert router.processes().reloads == 0


def test_second_manager_adopts_running_haproxy(router, router_config, backend, http, make_route):
    first = [make_route("hello.apps.localhost", backend("hello").server())]
    router.apply(first)
    adopter = HAProxy(router_config)

    assert adopter.running()
    assert adopter.pid() == router.pid()
    assert adopter.apply(first) is False

    assert adopter.apply([*first, make_route("new.apps.localhost", backend("new").server())])
    assert http("new.apps.localhost").served_by == "new"
    assert http("hello.apps.localhost").served_by == "hello"
    assert adopter.pid() == router.pid()
    assert adopter.processes().reloads == 1


def test_stop_leaves_nothing_running(router, router_config, backend, http, make_route):
    router.apply([make_route("hello.apps.localhost", backend("hello").server())])
    router.apply([make_route("hello.apps.localhost", backend("other").server())])
    table = router.processes()
    pids = [table.master, *table.workers, *table.old_workers]

    router.stop()

    assert not router.running()
    assert router.pid() is None
    assert not any(_process_alive(pid) for pid in pids)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", router_config.port), timeout=2).close()
    router.stop()  # stopping twice is harmless


def test_only_the_live_host_map_is_kept(router, run_dir, backend, http, make_route):
    hello, other = backend("hello"), backend("other")
    router.apply([make_route("hello.apps.localhost", hello.server())])
    router.apply([make_route("other.apps.localhost", other.server())])

    maps = list(run_dir.glob("*.map"))
    assert [path.name for path in maps] == ["hosts.map"]
    assert str(maps[0]) in router.config_path.read_text()
    assert maps[0].read_text() == "other.apps.localhost be_guid-other\n"
    assert http("hello.apps.localhost").status == 404
    assert http("other.apps.localhost").served_by == "other"


def test_stale_pidfile_is_not_adopted(router, backend, http, make_route):
    router.pid_path.parent.mkdir(parents=True, exist_ok=True)
    router.pid_path.write_text(f"{os.getpid()}\n")  # alive, but not HAProxy

    assert not router.running()
    assert router.apply([make_route("hello.apps.localhost", backend("hello").server())])
    assert http("hello.apps.localhost").served_by == "hello"


def test_stats_report_backends_and_servers(router, backend, http, make_route):
    router.apply([make_route("hello.apps.localhost", backend("hello").server("idx-0"))])
    for _ in range(3):
        http("hello.apps.localhost")

    rows = router.stats()

    ours = [row for row in rows if backend_id(row["pxname"]) == "guid-hello"]
    server = next(row for row in ours if row["svname"] not in ("FRONTEND", "BACKEND"))
    assert int(server["stot"]) == 3
    assert int(server["hrsp_2xx"]) == 3
    assert router.response_counts() == {"idx-0": (3, 0)}  # by the instance, not its slot
    backends = router.backend_stats()  # what the metrics read: no row per server slot
    assert {row["svname"] for row in backends} == {"BACKEND"}
    mine = next(row for row in backends if backend_id(row["pxname"]) == "guid-hello")
    assert int(mine["stot"]) == 3


def test_failed_reload_keeps_old_config_serving(
    router, router_config, backend, http, make_route, unused_port
):
    routes = [make_route("hello.apps.localhost", backend("hello").server())]
    router.apply(routes)
    before = router.config_path.read_text()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", unused_port))
        taken.listen()
        moved = HAProxy(replace(router_config, port=unused_port))

        with pytest.raises(RouterConfigError, match="cannot be bound"):
            moved.apply(routes)  # passes `haproxy -c`, fails when the master binds

    assert router.config_path.read_text() == before
    assert http("hello.apps.localhost").served_by == "hello"
    assert router.apply(routes) is False
    more = [*routes, make_route("more.apps.localhost", backend("more").server())]
    assert router.apply(more)
    assert http("more.apps.localhost").served_by == "more"
