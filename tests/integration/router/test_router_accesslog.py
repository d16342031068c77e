"""Access logs travel from HAProxy's ring over its stats socket to Yun's callback."""

from __future__ import annotations

import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.client import HTTPConnection, HTTPException

import pytest

from yun.logstore import rtr
from yun.router import (
    AccessLogReceiver,
    AppLines,
    HAProxy,
    Policy,
    Route,
    RouterConfig,
    Server,
)
from yun.router.accesslog import REQUEST_ID_MAX, URI_MAX, USER_AGENT_MAX, XFF_MAX

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)"
    ),
]

Lines = list[tuple[str, str]]  # (app guid, message as `yun logs` shows it) of each record, in order


def guid_of(host: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, host))


@pytest.fixture
def app_route(make_route: Callable[..., Route]) -> Callable[..., Route]:
    """make_route, with a backend id that starts with an app guid, as the platform's do."""

    def route(host: str, *servers: Server, **kwargs: str) -> Route:
        return make_route(host, *servers, backend=kwargs.pop("backend", guid_of(host)), **kwargs)

    return route


@pytest.fixture
def router_config(router_config: RouterConfig) -> RouterConfig:
    return replace(router_config, access_log=True)


@pytest.fixture
def receive(router: HAProxy) -> Iterator[Callable[[], tuple[AccessLogReceiver, Lines]]]:
    """receive() → a started receiver on the router's stats socket, and the lines it got."""
    started: list[AccessLogReceiver] = []

    def start() -> tuple[AccessLogReceiver, Lines]:
        got: Lines = []

        def collect(by_app: AppLines) -> None:
            for guid, lines in by_app.items():
                for line in lines.splitlines():
                    record = rtr.decode(line, guid)
                    got.append((guid, record[2] if record else f"undecodable: {line!r}"))

        receiver = AccessLogReceiver(router.stats_socket, collect)
        receiver.start()
        started.append(receiver)
        return receiver, got

    yield start
    for receiver in started:
        receiver.stop()


def request_ids(lines: Lines) -> list[str]:
    return [text.split('x_request_id:"', 1)[1].split('"', 1)[0] for _, text in lines]


def test_access_lines_reach_the_app_and_name_the_instance(
    router: HAProxy, receive, backend, http, app_route, wait_for
):
    _, lines = receive()
    app = "0c5e2a4b-7d1f-4c3a-9b8e-6f2d1a0e5c47"
    servers = [backend("hello").server("idx-0")]
    router.apply([app_route("hello.apps.localhost", *servers, backend=f"{app}_web", app="hello")])

    http("nowhere.apps.localhost")  # no app's: logged by HAProxy, in no app's log
    trace = "0af7651916cd43dd8448eb211c80319c"
    given = {"X-Request-Id": "req-7", "traceparent": f"00-{trace}-b7ad6b7169203331-01"}
    http("hello.apps.localhost", "/greet?who=me", headers=given)
    made = http("hello.apps.localhost").json["headers"]["traceparent"].split("-")[1]

    assert wait_for(lambda: len(lines) >= 2)
    time.sleep(0.3)  # the unknown route's line would have arrived by now
    [(guid, text), (_, second)] = lines
    assert guid == app
    assert text.startswith("hello.apps.localhost - [")
    assert '"GET /greet?who=me HTTP/1.1" 200' in text
    assert 'x_request_id:"req-7"' in text
    assert 'x_forwarded_for:"127.0.0.1"' in text
    assert text.endswith(f' app_id:"{app}" instance:"idx-0" termination:"--" trace_id:"{trace}"')
    assert "response_time_ms:" in text
    assert second.endswith(f' trace_id:"{made}"')  # the trace the router started


def test_longest_client_values_arrive_cut_to_their_caps(
    router: HAProxy, receive, backend, http, app_route, wait_for
):
    _, lines = receive()
    router.apply([app_route("h.apps.localhost", backend("h").server())])
    # The worst case: every byte a quote, which HAProxy escapes, in every field at once.
    quotes = '"' * 1500  # over every cap; four such values still fit HAProxy's request buffer

    http(
        "h.apps.localhost",
        "/" + quotes,
        headers={"User-Agent": quotes, "X-Forwarded-For": quotes, "X-Request-Id": quotes},
    )

    assert wait_for(lambda: len(lines) == 1)
    text = lines[0][1]
    escaped = '\\"'
    assert f' "{escaped * USER_AGENT_MAX}" ' in text
    # HAProxy itself keeps the first 1,024 bytes of the request line for logs (URI_MAX at most).
    uri = re.search(r'"GET /((?:\\")+) HTTP/1.1" 200 ', text)  # the version is still right
    assert uri and 0 < len(uri.group(1)) // 2 < URI_MAX
    assert f'x_forwarded_for:"{escaped * XFF_MAX}, 127.0.0.1" ' in text  # and the router's
    assert f'x_request_id:"{escaped * REQUEST_ID_MAX}" ' in text


def test_client_values_cannot_pass_for_other_fields(
    router: HAProxy, receive, backend, http, app_route, wait_for
):
    _, lines = receive()
    router.apply([app_route("h.apps.localhost", backend("h").server("idx-0"), app="my-app")])
    hostile = 'x" x_request_id:"fake" app_id:"evil'

    http(
        "h.apps.localhost",
        '/p?q="x_request_id:"fake"',
        # A value that ends in a backslash must not open the next quote.
        headers={"User-Agent": (hostile + "\\ ] ☃").encode(), "X-Request-Id": "real\\"},
    )

    assert wait_for(lambda: len(lines) == 1)
    guid, text = lines[0]
    assert guid == guid_of("h.apps.localhost")
    assert 'x_request_id:"real\\\\" response_time_ms:' in text
    assert '"GET /p?q=\\"x_request_id:\\"fake\\" HTTP/1.1" 200 ' in text
    assert '"x\\" x_request_id:\\"fake\\" app_id:\\"evil\\\\ ] ☃"' in text
    assert re.search(
        f' app_id:"{guid}" instance:"idx-0" termination:"--" trace_id:"[0-9a-f]{{32}}"$', text
    )


def test_after_a_reload_and_reconnect_lines_arrive_once(
    router: HAProxy, router_config, receive, backend, http, app_route, wait_for
):
    a, b = backend("a"), backend("b")
    receiver, lines = receive()  # before HAProxy, as the platform does: it reads every line
    router.apply([app_route("a.apps.localhost", a.server())])
    receiver.reconnect()
    http("a.apps.localhost", headers={"X-Request-Id": "before"})
    assert wait_for(lambda: request_ids(lines) == ["before"])
    kept_alive = HTTPConnection("127.0.0.1", router_config.port, timeout=10)
    kept_alive.request("GET", "/", headers={"Host": "a.apps.localhost", "X-Request-Id": "ka-1"})
    kept_alive.getresponse().read()

    route = app_route("a.apps.localhost", a.server(), b.server())
    assert router.apply([replace(route, policy=Policy(timeout=30))])  # a new policy: a reload
    http("a.apps.localhost", headers={"X-Request-Id": "reloaded"})  # the new worker's ring
    receiver.reconnect()
    # The old worker answers one more request on a kept-alive connection.
    kept_alive.request("GET", "/", headers={"Host": "a.apps.localhost", "X-Request-Id": "ka-2"})
    kept_alive.getresponse().read()
    kept_alive.close()
    http("a.apps.localhost", headers={"X-Request-Id": "after"})

    expected = ["before", "ka-1", "reloaded", "ka-2", "after"]
    assert wait_for(lambda: len(lines) >= len(expected))
    time.sleep(0.5)  # a duplicate would arrive by now
    assert sorted(request_ids(lines)) == sorted(expected)


def test_a_new_receiver_does_not_replay_what_haproxy_served_before(
    router: HAProxy, receive, backend, http, app_route, wait_for
):
    router.apply([app_route("a.apps.localhost", backend("a").server())])
    for n in range(3):
        http("a.apps.localhost", headers={"X-Request-Id": f"old-{n}"})

    _, lines = receive()
    # Until the receiver is attached, a request's line is skipped too; so send until one arrives.
    sent = 0
    while not lines and sent < 50:
        http("a.apps.localhost", headers={"X-Request-Id": f"new-{sent}"})
        sent += 1
        wait_for(lambda: bool(lines), timeout=0.2)

    assert lines
    assert all(rid.startswith("new-") for rid in request_ids(lines))


def test_receiver_started_before_haproxy_follows_it_up(
    router: HAProxy, receive, backend, http, app_route, wait_for
):
    receiver, lines = receive()
    time.sleep(0.4)  # it finds no HAProxy and keeps trying

    router.apply([app_route("a.apps.localhost", backend("a").server())])
    receiver.reconnect()
    http("a.apps.localhost", headers={"X-Request-Id": "first"})

    assert wait_for(lambda: request_ids(lines) == ["first"])


def test_stop_is_prompt_while_streaming(
    router: HAProxy, receive, backend, http, app_route, wait_for
):
    router.apply([app_route("x.apps.localhost", backend("x").server())])
    receiver, lines = receive()
    assert wait_for(lambda: (http("x.apps.localhost"), bool(lines))[1])

    began = time.monotonic()
    receiver.stop()

    assert time.monotonic() - began < 0.5


def test_reloads_under_load_with_access_log_drop_no_request_and_no_line(
    router: HAProxy, router_config, receive, backend, app_route, wait_for
):
    a, b, c = (backend(name) for name in ("a", "b", "c"))
    host = "load.apps.localhost"
    receiver, lines = receive()
    router.apply([app_route(host, a.server(), b.server())])
    receiver.reconnect()
    probe = HTTPConnection("127.0.0.1", router_config.port, timeout=5)
    probe.request("GET", "/", headers={"Host": host, "X-Request-Id": "probe"})
    probe.getresponse().read()
    probe.close()
    assert wait_for(lambda: request_ids(lines) == ["probe"])
    stop = threading.Event()
    served: list[str] = []
    failures: list[str] = []

    def fire(client: int, *, keep_alive: bool) -> None:
        conn: HTTPConnection | None = None
        n = 0
        while not stop.is_set():
            rid = f"{client}-{n}"
            n += 1
            try:
                conn = conn or HTTPConnection("127.0.0.1", router_config.port, timeout=5)
                conn.request("GET", "/", headers={"Host": host, "X-Request-Id": rid})
                response = conn.getresponse()
                response.read()
                (served if response.status == 200 else failures).append(rid)
                if not keep_alive or response.will_close:
                    conn.close()
                    conn = None
            except (OSError, HTTPException) as exc:
                failures.append(f"{rid}: {type(exc).__name__}")
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    clients = [
        threading.Thread(target=fire, args=(n,), kwargs={"keep_alive": keep_alive})
        for n, keep_alive in enumerate((True, True, False, False))
    ]
    for client in clients:
        client.start()
    try:
        server_sets = [(b, c), (c, a), (a,), (a, b, c), (a, b)]
        for i in range(10):
            chosen = server_sets[i % len(server_sets)]
            # A policy changes each time: that takes a reload (a new set of servers alone
            # would not; see test_router_runtime.py).
            route = app_route(host, *(s.server() for s in chosen))
            assert router.apply([replace(route, policy=Policy(timeout=10 + i))])
            receiver.reconnect()
    finally:
        stop.set()
        for client in clients:
            client.join()

    assert failures == []
    assert len(served) > 100
    # Access lines are best effort: a reader that lags behind (it runs at idle priority) loses
    # what the old worker still held when it reconnects. Lines never repeat or invent requests.
    wait_for(lambda: len(lines) >= len(served) + 1, timeout=10)
    time.sleep(0.5)  # a duplicate would arrive by now
    logged = request_ids(lines)
    assert len(logged) == len(set(logged))
    assert set(logged) <= {"probe", *served}
    assert len(logged) >= 0.9 * len(served)
