"""A route service as third parties write one (Cloud Foundry's contract): it notes what it was
sent, sends the request on to `X-CF-Forwarded-Url` with the signature headers as they came, and
answers with what came back, marked `X-Route-Service: seen`."""

from __future__ import annotations

from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class RouteService(ThreadingHTTPServer):
    """A third-party gateway: notes what it was sent, sends the request on to the forwarded
    URL (through the router), and answers with what came back, marked."""

    daemon_threads = True

    def __init__(self, router_port: int) -> None:
        super().__init__(("127.0.0.1", 0), _Forwarder)
        self.router_port = router_port
        self.seen: list[dict[str, Any]] = []


class _Forwarder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RouteService

    def do_GET(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.seen.append({"path": self.path, "headers": headers})
        target = urlsplit(headers["x-cf-forwarded-url"])
        conn = HTTPConnection("127.0.0.1", self.server.router_port, timeout=10)
        keep = ("x-cf-proxy-signature", "x-cf-proxy-metadata", "x-cf-forwarded-url")
        sent = {"Host": target.netloc, **{k: headers[k] for k in keep}}
        conn.request(
            "GET", target.path + (f"?{target.query}" if target.query else ""), headers=sent
        )
        answer = conn.getresponse()
        body = answer.read()
        conn.close()
        self.send_response(answer.status)
        self.send_header("X-Route-Service", "seen")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass
