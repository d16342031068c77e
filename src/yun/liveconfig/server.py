"""The watch endpoint of live configuration: HTTPS with client certificates, so an instance
proves which app it is with its own identity (`CF_INSTANCE_CERT`, `CF_INSTANCE_KEY`) and is
told only that app's configuration.

    GET /config          {"version": "s1.a3", "values": {...}}
    GET /config/watch    server-sent events: `event: config` with that document now and
                         after each change, a comment line every 15 s to keep it open

`yun server` runs one on the containers' bridge address (instances find it at
`YUN_CONFIG_URL`; the firewall opens its port there) and one on 127.0.0.1 for host processes.
`changed(app_guids)` wakes the streams of those apps. A thread per connection, at most
`MAX_STREAMS` at once; more are refused with 503.
"""

from __future__ import annotations

import json
import logging
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from yun.agent.live_config import LiveConfig
from yun.tls import PlatformCA, issue

log = logging.getLogger(__name__)

KEEPALIVE = 15.0
HANDSHAKE_TIMEOUT = 10.0
MAX_STREAMS = 256
APP_PREFIX = "app:"


def app_of(peer: dict[str, Any] | None) -> str | None:
    """The app guid an instance certificate names (its `app:GUID` organizational unit)."""
    for rdn in (peer or {}).get("subject", ()):
        for key, value in rdn:
            if key == "organizationalUnitName" and str(value).startswith(APP_PREFIX):
                return str(value)[len(APP_PREFIX) :]
    return None


class _Versions:
    """Per app, a counter bumped on each change, and one condition the streams wait on."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.ticks: dict[str, int] = {}
        self.closing = False

    def bump(self, apps: Iterable[str]) -> None:
        with self.condition:
            for app in apps:
                self.ticks[app] = self.ticks.get(app, 0) + 1
            self.condition.notify_all()

    def wait_past(self, app: str, tick: int, timeout: float) -> int:
        with self.condition:
            self.condition.wait_for(
                lambda: self.closing or self.ticks.get(app, 0) != tick, timeout=timeout
            )
            return self.ticks.get(app, 0)


class ConfigWatchServer:
    def __init__(
        self, *, bind: str, port: int, ca: PlatformCA, config_of: Callable[[str], LiveConfig]
    ) -> None:
        self.bind, self.port = bind, port
        self.ca = ca
        self.config_of = config_of
        self.versions = _Versions()
        self._streams = threading.BoundedSemaphore(MAX_STREAMS)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"https://{self.bind}:{self.port}/config"

    def changed(self, app_guids: Iterable[str]) -> None:
        self.versions.bump(app_guids)

    def start(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=self.ca.pem)
        bundle = issue(self.ca, (self.bind,)).bundle
        with tempfile.TemporaryDirectory() as folder:  # ssl loads a chain from files only
            path = Path(folder) / "server.pem"
            path.write_text(bundle)
            path.chmod(0o600)
            context.load_cert_chain(path)
        server = _TlsServer((self.bind, self.port), _handler(self))
        server.context = context
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 1.0},
            name="yun-config",
            daemon=True,
        )
        self._thread.start()
        log.info("live configuration served on %s", self.url)

    def stop(self) -> None:
        with self.versions.condition:
            self.versions.closing = True
            self.versions.condition.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


class _TlsServer(ThreadingHTTPServer):
    """The TLS handshake happens in each connection's own thread, so a slow client holds up
    nobody else."""

    daemon_threads = True
    context: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            log.debug("config: TLS with %s failed: %s", client_address[0], exc)
            return
        try:
            tls.settimeout(None)
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("config: a request of %s failed", client_address[0], exc_info=True)


def _handler(owner: ConfigWatchServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("config %s: " + format, self.client_address[0], *args)

        def do_GET(self) -> None:
            sock = self.connection
            app = app_of(sock.getpeercert() if isinstance(sock, ssl.SSLSocket) else None)
            if app is None:
                self._send(403, {"error": "an instance certificate (CF_INSTANCE_CERT) is needed"})
                return
            if self.path == "/config":
                self._send(200, _body(owner.config_of(app)))
            elif self.path == "/config/watch":
                self._stream(app)
            else:
                self._send(404, {"error": "GET /config or /config/watch"})

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = (json.dumps(body) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, app: str) -> None:
            if not owner._streams.acquire(blocking=False):
                self._send(503, {"error": "too many watch streams"})
                return
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                self.close_connection = True
                tick = owner.versions.ticks.get(app, 0)
                sent = ""
                while not owner.versions.closing:
                    now = owner.config_of(app)
                    if now.version != sent:
                        data = json.dumps(_body(now))
                        self.wfile.write(
                            f"event: config\nid: {now.version}\ndata: {data}\n\n".encode()
                        )
                        sent = now.version
                    else:
                        self.wfile.write(b": still here\n\n")
                    self.wfile.flush()
                    tick = owner.versions.wait_past(app, tick, KEEPALIVE)
            except (OSError, ssl.SSLError):
                return  # the instance went away
            finally:
                owner._streams.release()

    return Handler


def _body(config: LiveConfig) -> dict[str, Any]:
    return {"version": config.version, "values": dict(config.values)}
