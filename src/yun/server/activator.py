"""The activator: holds the first requests of an app scaled to zero while an instance starts.

An app whose autoscaling policy allows zero instances has, when it has none, its routes sent
by HAProxy to this small server (`RouteController` puts it in as the backend's only server).
A request here finds its app by the route (host, longest path prefix), sets the web process to
one instance if it has none, waits until the router sends traffic to a RUNNING instance, and
then replays the request through the router, so it reaches the instance like any other. The
client sees a slow first answer, not an error. Nothing is buffered beyond one request body.

A replayed request carries `X-Yun-Activated`; if it comes back here (the app did not start in
time), the activator answers 503 instead of looping.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import select

from yun.store import events
from yun.store.models import App, Domain, Instance, Process, Route, RouteMapping
from yun.store.session import Store

log = logging.getLogger(__name__)

ACTIVATED = "X-Yun-Activated"
WAKE_TIMEOUT = 60.0  # Cloud Foundry's default start timeout
MAX_BODY = 16 << 20
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"}
)


class Activator:
    def __init__(
        self,
        *,
        store: Store,
        wake: Callable[[str], None],
        router_port: int,
        bind: str = "127.0.0.1",
        timeout: float = WAKE_TIMEOUT,
    ) -> None:
        self.store = store
        self.wake = wake
        self.router_port = router_port
        self.timeout = timeout
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((bind, 0), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="yun-activator", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- one request --------------------------------------------------------------------------

    def activate(self, host: str, path: str) -> str | None:
        """Wake the app behind host/path and wait until it serves; None when it does, else why
        not (one line for the 503)."""
        with self._lock, self.store.session() as session:
            found = self._process(session, host, path)
            if found is None:
                return f"no app is scaled to zero at {host}{path}"
            app, proc = found
            if proc.instances == 0:
                proc.instances = 1
                events.record(
                    session,
                    type="app.autoscale",
                    app=app,
                    actor="activator",
                    data={"from": 0, "to": 1, "reason": "a request arrived", "panic": False},
                )
            guid = proc.guid
        self.wake("instances")
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            with self.store.session() as session:
                serving = session.scalar(
                    select(Instance).where(
                        Instance.process_guid == guid,
                        Instance.state == "RUNNING",
                        Instance.routed.is_(True),
                        Instance.draining_since.is_(None),
                    )
                )
            if serving is not None:
                return None
            time.sleep(0.05)
        return f"the app did not start within {self.timeout:g} s"

    def _process(self, session: Any, host: str, path: str) -> tuple[App, Process] | None:
        name = host.split(":", 1)[0].lower()
        best: tuple[int, App, Process] | None = None
        rows = session.execute(
            select(Route, Domain, RouteMapping)
            .join(Domain, Domain.guid == Route.domain_guid)
            .join(RouteMapping, RouteMapping.route_guid == Route.guid)
        )
        for route, domain, mapping in rows:
            if f"{route.host}.{domain.name}" != name:
                continue
            prefix = route.path
            if prefix and not (path == prefix or path.startswith(prefix + "/")):
                continue
            app = session.get(App, mapping.app_guid)
            proc = session.scalar(
                select(Process).where(
                    Process.app_guid == mapping.app_guid, Process.type == mapping.process_type
                )
            )
            if app is None or proc is None or int((app.autoscale or {}).get("min", 1)) != 0:
                continue
            if best is None or len(prefix) > best[0]:
                best = (len(prefix), app, proc)
        return None if best is None else (best[1], best[2])

    def replay(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send the request through the router again (it now reaches the instance)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.router_port, timeout=self.timeout)
        try:
            dropped = HOP_BY_HOP | {"content-length"}
            kept = [(k, v) for k, v in headers if k.lower() not in dropped]
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for key, value in [*kept, (ACTIVATED, "1"), ("Content-Length", str(len(body)))]:
                conn.putheader(key, value)
            conn.endheaders(body)
            response = conn.getresponse()
            data = response.read()
            answer = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            return response.status, answer, data
        finally:
            conn.close()


def _handler(activator: Activator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("activator: " + format, *args)

        def _fail(self, status: int, text: str) -> None:
            data = (text + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Yun-Router-Error", "activation_failed")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._fail(413, "a request to an app scaled to zero may carry at most 16 MiB")
                return
            body = self.rfile.read(length) if length else b""
            if self.headers.get(ACTIVATED):
                self._fail(503, "the app was woken but is not serving yet; try again")
                return
            host = self.headers.get("Host", "")
            why = activator.activate(host, self.path.split("?", 1)[0])
            if why is not None:
                self._fail(503, why)
                return
            try:
                status, headers, data = activator.replay(
                    self.command, self.path, list(self.headers.items()), body
                )
            except OSError as exc:
                self._fail(502, f"the woken app did not answer: {exc}")
                return
            self.send_response(status)
            for key, value in headers:
                if key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    return Handler
