"""Gateway options on a route, from the CLI to the router: `rate_limit` lets N requests of a
client through in a window and answers the next with 429 and Retry-After; `deny` shuts a
client out; an empty value takes an option off; a wrong one is refused, naming it. JWT: with
a JWKS address the platform fetches, a request without a good token gets 401 and one with a
good token reaches the app with its claims as headers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import EXAMPLES, Platform
from tests.route_service import RouteService
from tests.tokens import Issuer

pytestmark = pytest.mark.e2e
WINDOW = 10


def test_a_rate_limit_and_a_deny_list_from_the_cli(platform: Platform) -> None:
    platform.cli("push", "gated", "-p", str(EXAMPLES / "hello-static"))
    route = "gated.apps.localhost"
    try:
        platform.wait_for("gated", "Hello")
        said = platform.cli("update-route", route, "-o", f"rate_limit=3/{WINDOW}s").stdout
        assert f"rate_limit=3/{WINDOW}s" in said
        while time.time() % WINDOW > WINDOW - 3:  # all of them within one window
            time.sleep(0.1)
        deadline = time.monotonic() + 10  # the router reloads within moments
        while (answer := platform.get("gated")).status_code != 429:
            assert time.monotonic() < deadline, "the limit never took hold"
        assert 1 <= int(answer.headers["Retry-After"]) <= WINDOW
        platform.cli("update-route", route, "-o", "rate_limit=", "-o", "deny=127.0.0.1")
        deadline = time.monotonic() + 10
        while (answer := platform.get("gated")).status_code != 403:
            assert time.monotonic() < deadline, "the deny list never took hold"
        wrong = platform.cli("update-route", route, "-o", "max_body=lots", check=False)
        assert wrong.returncode != 0 and "max_body" in wrong.stderr
    finally:
        platform.cli("delete", "gated", "-f", check=False)


# Answers with the headers it was sent, as JSON.
ECHO = """\
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


@pytest.fixture
def identity_provider() -> Iterator[tuple[Issuer, str]]:
    """An issuer and the loopback address of its JWKS, as an identity provider publishes it."""
    issuer = Issuer()
    document = issuer.jwks().encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/.well-known/jwks.json" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield issuer, f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def test_jwt_from_a_jwks_address_lets_only_good_tokens_through_with_their_claims(
    platform: Platform, tmp_path: Path, identity_provider: tuple[Issuer, str]
) -> None:
    issuer, address = identity_provider
    folder = tmp_path / "secured"
    folder.mkdir()
    (folder / "app.py").write_text(ECHO)
    (folder / "Procfile").write_text("web: python app.py\n")
    platform.cli("push", "secured", "-p", str(folder))
    route = "secured.apps.localhost"

    def get(token: str = "") -> httpx.Response:
        headers = {"Host": route, **({"Authorization": f"Bearer {token}"} if token else {})}
        return httpx.get(f"http://127.0.0.1:{platform.router_port}/", headers=headers, timeout=5)

    try:
        platform.wait_for("secured", "host")
        platform.cli(
            "update-route", route, "-o", f"jwt_jwks={address}", "-o", "jwt_claims=sub,email"
        )
        token = issuer.token({"sub": "alice", "email": "alice@example.com"})
        deadline = time.monotonic() + 10  # the router reloads; the keys are fetched, again
        while get().status_code != 401 or (answer := get(token)).status_code != 200:
            assert time.monotonic() < deadline, "tokens were never checked, or none passed"
            time.sleep(0.1)
        headers = answer.json()
        assert (headers["x-jwt-sub"], headers["x-jwt-email"]) == ("alice", "alice@example.com")
        assert get().status_code == 401
        assert get(Issuer().token({"sub": "mallory"}, kid=issuer.kid)).status_code == 401
        assert get(issuer.token({"sub": "alice"}, ttl=-1)).status_code == 401
        listed = platform.cli("routes").stdout
        assert any(address in line for line in listed.splitlines() if route in line)
        shown = json.loads(platform.cli("routes", "--json").stdout)
        assert [r["options"]["jwt_claims"] for r in shown if r.get("url") == route] == ["sub,email"]
    finally:
        platform.cli("delete", "secured", "-f", check=False)


def test_api_keys_with_a_plan_from_the_cli(platform: Platform) -> None:
    platform.cli("push", "keyed", "-p", str(EXAMPLES / "hello-static"))
    route = "keyed.apps.localhost"

    def get(key: str = "") -> httpx.Response:
        headers = {"Host": route, **({"X-Api-Key": key} if key else {})}
        return httpx.get(f"http://127.0.0.1:{platform.router_port}/", headers=headers, timeout=5)

    try:
        platform.wait_for("keyed", "Hello")
        said = platform.cli(
            "create-api-plan", route, "trial", "--rate-limit", f"3/{WINDOW}s", "--quota", "5/1d"
        ).stdout
        assert f"rate_limit 3/{WINDOW}s" in said and "quota 5/1d" in said
        plans = platform.cli("api-plans", route).stdout
        assert [line.split() for line in plans.splitlines() if line.startswith("trial")] == [
            ["trial", f"3/{WINDOW}s", "5/1d", "0"]
        ]
        made = json.loads(platform.cli("create-api-key", route, "--plan", "trial", "--json").stdout)
        key = made["key"]
        hint = platform.cli("create-api-key", route, "--name", "spare").stdout
        assert "-o api_keys=true" in hint  # the route does not check keys yet
        platform.cli("update-route", route, "-o", "api_keys=true")
        deadline = time.monotonic() + 10
        while get().status_code != 401:
            assert time.monotonic() < deadline, "keys were never asked for"
            time.sleep(0.1)
        assert get("yun_not-a-key").status_code == 401
        while time.time() % WINDOW > WINDOW - 3:  # the next four in one rate window
            time.sleep(0.1)
        assert [get(key).status_code for _ in range(4)] == [200, 200, 200, 429]
        time.sleep(WINDOW - time.time() % WINDOW + 0.2)  # the next rate window
        assert [get(key).status_code for _ in range(3)] == [200, 200, 429]  # 5 served: quota
        assert get(key).headers["X-Yun-Router-Error"] == "api_key_quota"
        listed = platform.cli("api-keys", route).stdout
        (line,) = [line for line in listed.splitlines() if line.startswith(made["name"])]
        assert "5/5" in line and made["prefix"] in line
        wrong = platform.cli("create-api-plan", route, "gold", "--rate-limit", "fast", check=False)
        assert wrong.returncode != 0 and "rate_limit" in wrong.stderr
        platform.cli("delete-api-key", route, made["name"])
        deadline = time.monotonic() + 10
        while get(key).status_code != 401:
            assert time.monotonic() < deadline, "a deleted key still passed"
            time.sleep(0.1)
    finally:
        platform.cli("delete", "keyed", "-f", check=False)


def _push_echo(platform: Platform, tmp_path: Path, name: str) -> None:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "app.py").write_text(ECHO)
    (folder / "Procfile").write_text("web: python app.py\n")
    platform.cli("push", name, "-p", str(folder))
    platform.wait_for(name, "host")


def _through_service(platform: Platform, name: str, path: str = "/") -> httpx.Response:
    """The app's answer once its route sends requests through the route service."""
    deadline = time.monotonic() + 10
    while (answer := platform.get(name, path)).headers.get("X-Route-Service") != "seen":
        assert time.monotonic() < deadline, "requests never went through the route service"
        time.sleep(0.1)
    return answer


@pytest.fixture
def route_service(platform: Platform) -> Iterator[RouteService]:
    service = RouteService(platform.router_port)
    threading.Thread(target=service.serve_forever, daemon=True).start()
    yield service
    service.shutdown()
    service.server_close()


def test_a_route_service_sees_the_forwarded_url_and_signature_from_the_cli(
    platform: Platform, tmp_path: Path, route_service: RouteService
) -> None:
    route = "fronted.apps.localhost"
    try:
        _push_echo(platform, tmp_path, "fronted")
        gate = f"http://127.0.0.1:{route_service.server_port}/gate"
        platform.cli("update-route", route, "-o", f"route_service={gate}")
        answer = _through_service(platform, "fronted", "/orders?id=7")
        assert answer.status_code == 200
        assert answer.json()["x-cf-proxy-signature"]  # the app got it, as the service sent it
        seen = route_service.seen[-1]["headers"]
        assert seen["x-cf-forwarded-url"] == f"http://{route}/orders?id=7"
        forged = httpx.get(
            f"http://127.0.0.1:{platform.router_port}/",
            headers={"Host": route, "X-CF-Proxy-Signature": "1.forged"},
            timeout=5,
        )
        assert forged.status_code == 403
        wrong = platform.cli("update-route", route, "-o", "route_service=gate", check=False)
        assert wrong.returncode != 0 and "route_service" in wrong.stderr
    finally:
        platform.cli("delete", "fronted", "-f", check=False)


def test_a_user_provided_route_service_is_bound_and_unbound_as_on_cloud_foundry(
    platform: Platform, tmp_path: Path, route_service: RouteService
) -> None:
    gate = f"http://127.0.0.1:{route_service.server_port}/gate"
    try:
        _push_echo(platform, tmp_path, "guarded")
        made = platform.cli("create-user-provided-service", "gate", "-r", gate).stdout
        assert "gate" in made
        bound = platform.cli(
            "bind-route-service", "apps.localhost", "gate", "--hostname", "guarded"
        )
        assert bound.stdout.strip() == (
            "Route guarded.apps.localhost now goes through route service gate."
        )
        assert _through_service(platform, "guarded").status_code == 200
        routes = platform.cli("routes").stdout
        assert any(
            "guarded.apps.localhost" in line and gate in line for line in routes.splitlines()
        )
        kept = platform.cli("delete-service", "gate", "-f", check=False)
        assert kept.returncode == 1 and "unbind it first" in kept.stderr
        wrong = platform.cli(
            "unbind-route-service", "apps.localhost", "other", "-n", "guarded", check=False
        )
        assert wrong.returncode == 1
        assert wrong.stderr.strip() == (
            "error: route guarded.apps.localhost is not bound to route service other"
        )
        platform.cli("unbind-route-service", "apps.localhost", "gate", "-n", "guarded")
        seen = len(route_service.seen)
        deadline = time.monotonic() + 10
        while platform.get("guarded").headers.get("X-Route-Service") == "seen":
            assert time.monotonic() < deadline, "requests still go through the route service"
            time.sleep(0.1)
        time.sleep(0.5)
        assert platform.get("guarded").status_code == 200
        assert len(route_service.seen) <= seen + 1  # at most the one in flight at the switch
    finally:
        platform.cli("delete", "guarded", "-f", check=False)
        platform.cli("delete-service", "gate", "-f", check=False)
