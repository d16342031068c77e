"""Secrets at rest, end to end: after `yun set-env` and binding a user-provided service with a
password, neither value is in the server's database files, its log store or the platform's
events, nor in anything an auditor of the space is shown (`yun app`, `yun events`, the
bindings); the app still gets both; `yun rotate-key` re-seals everything and the app keeps them
across a restart."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.conftest import Platform, other_cli

pytestmark = pytest.mark.e2e

TOKEN = "tok-9f3a61c2e6b84d0f"
PASSWORD = "pw-7c1e55a0b2d94e83"
APP = """\
import hashlib, json, os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        services = json.loads(os.environ.get("VCAP_SERVICES", "{}"))
        password = services["user-provided"][0]["credentials"]["password"]
        seen = os.environ["API_TOKEN"] + "|" + password
        body = hashlib.sha256(seen.encode()).hexdigest().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""
BOTH = hashlib.sha256(f"{TOKEN}|{PASSWORD}".encode()).hexdigest()  # what the app sees


def _leaks(platform: Platform) -> list[str]:
    """Files of the server's home holding either secret in clear, but the running instances'
    own state (their environment, which the agent needs to restart them; this user's alone)."""
    found = []
    for path in platform.home.rglob("*"):
        if not path.is_file() or path.stat().st_size > 64 << 20:
            continue
        data = path.read_bytes()
        if TOKEN.encode() in data or PASSWORD.encode() in data:
            if path.name == "state.json" and "instances" in path.parts:
                assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
                continue
            found.append(str(path.relative_to(platform.home)))
    return found


@pytest.fixture
def vault(platform: Platform, tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "vault"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    (folder / "Procfile").write_text("web: python app.py\n")
    platform.cli("push", "vault", "-p", str(folder), "--no-start")
    yield "vault"
    platform.cli("delete", "vault", "-f", check=False)
    platform.cli("delete-service", "vault-db", "-f", check=False)


def test_secrets_are_sealed_at_rest_and_the_app_still_gets_them(
    platform: Platform, vault: str, tmp_path: Path
) -> None:
    platform.cli("set-env", vault, "API_TOKEN", TOKEN)
    credentials = json.dumps({"username": "vault", "password": PASSWORD})
    platform.cli("create-user-provided-service", "vault-db", "-p", credentials)
    platform.cli("bind-service", vault, "vault-db")
    platform.cli("start", vault)
    platform.wait_for(vault, BOTH)
    assert _leaks(platform) == []
    events = platform.cli("events", "--since", "10m", "--json").stdout
    assert TOKEN not in events and PASSWORD not in events

    secret = tmp_path / "auditor.pw"
    secret.write_text("an auditor's password\n")
    platform.cli("create-user", "vault-auditor", "--password-file", str(secret))
    platform.cli("set-space-role", "vault-auditor", "main", "dev", "SpaceAuditor")
    auditor = other_cli(platform, tmp_path / "auditor")
    api = f"http://127.0.0.1:{platform.api_port}"
    logged = auditor("login", "-a", api, "-u", "vault-auditor", "-p", "an auditor's password")
    assert logged.returncode == 0, logged.stderr
    shown = [
        auditor("app", vault).stdout,
        auditor("app", vault, "--json").stdout,
        auditor("events", vault, "--json").stdout,
        auditor("events", "--json").stdout,
        auditor("services", "--json").stdout,
        auditor("service", "vault-db", "--json").stdout,
    ]
    assert "vault" in shown[0]  # the auditor does see the app
    assert all(TOKEN not in text and PASSWORD not in text for text in shown), shown
    refused = auditor("env", vault)
    assert refused.returncode == 1 and TOKEN not in refused.stdout + refused.stderr
    platform.cli("delete-user", "vault-auditor", "-f")

    rotated = platform.cli("rotate-key")
    assert rotated.stdout.startswith("Re-sealed ") and "under a new key" in rotated.stdout
    assert TOKEN in platform.cli("env", vault).stdout  # the admin still reads it
    platform.cli("restart", vault)
    platform.wait_for(vault, BOTH)
    assert _leaks(platform) == []
