"""Orgs and spaces through the CLI, with a real router: a team gets an org and a space, targets
it, pushes there; the default space does not see that app; `yun target` remembers and shows
where the CLI acts; a space with an app goes only with --recursive, and the router stops
serving the app."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import pytest
from tests.e2e.conftest import Platform, other_cli

pytestmark = pytest.mark.e2e

APP = """\
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello from prod"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


def test_a_team_targets_its_own_org_and_space(platform: Platform, tmp_path: Path) -> None:
    yun = other_cli(platform, tmp_path / "team")
    api = f"http://127.0.0.1:{platform.api_port}"
    assert yun("login", "-a", api, "-u", "admin", "-p", "e2e-secret").returncode == 0
    assert yun("create-org", "acme").returncode == 0
    made = yun("create-space", "prod", "-o", "acme")
    assert (
        made.stdout.strip() == "Created space prod in org acme. Use it: yun target -o acme -s prod"
    )
    yun("create-space", "staging", "-o", "acme")
    listed = yun("spaces", "-o", "acme").stdout.splitlines()
    assert [line.split()[0] for line in listed[1:]] == ["prod", "staging"]

    alone = yun("target", "-o", "acme")  # two spaces: none picked
    assert "space: (none" in alone.stdout
    refused = yun("apps")
    assert refused.returncode == 1
    assert (
        refused.stderr.strip() == "error: no space targeted in org acme; run `yun target -s SPACE`"
    )

    shown = yun("target", "-s", "prod").stdout
    assert "org:   acme" in shown and "space: prod" in shown
    folder = tmp_path / "prod-app"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    (folder / "Procfile").write_text("web: python app.py\n")
    pushed = yun("push", "prodapp", "-p", str(folder))
    assert pushed.returncode == 0, pushed.stderr
    assert "prodapp" in yun("apps").stdout
    assert platform.get("prodapp").text == "hello from prod"
    assert "prodapp" not in platform.cli("apps").stdout  # the session CLI acts in main/dev
    spaces = yun("spaces").stdout.splitlines()
    assert next(line for line in spaces if line.startswith("prod")).split()[1:3] == ["1", "1"]

    kept = yun("delete-space", "prod", "-f")
    assert kept.returncode == 1 and "apps (prodapp)" in kept.stderr and "--recursive" in kept.stderr
    gone = yun("delete-space", "prod", "--recursive", "-f")
    assert gone.stdout.strip() == "Deleted space prod of org acme (1 app(s))."
    deadline = time.monotonic() + 10
    while platform.get("prodapp").status_code != 404 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert platform.get("prodapp").status_code == 404
    assert "space: (none" in yun("target").stdout
    org_gone = yun("delete-org", "acme", "--recursive", "-f")
    assert org_gone.stdout.strip() == "Deleted org acme (1 space(s), 0 app(s))."
    assert "acme" not in yun("orgs").stdout


def test_a_recursive_delete_takes_the_spaces_services_with_it(
    platform: Platform, tmp_path: Path
) -> None:
    """`delete-space --recursive` unbinds and deletes the space's services first (a managed
    Redis with a key and an app binding, a user-provided one), waiting for the broker, then
    the app; the Redis server's data goes with it."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (make test installs it)")
    yun = other_cli(platform, tmp_path / "team")
    api = f"http://127.0.0.1:{platform.api_port}"
    assert yun("login", "-a", api, "-u", "admin", "-p", "e2e-secret").returncode == 0
    yun("create-org", "gone-org")
    yun("create-space", "gone", "-o", "gone-org")
    yun("target", "-o", "gone-org", "-s", "gone")
    folder = tmp_path / "gone-app"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    (folder / "Procfile").write_text("web: python app.py\n")
    assert yun("push", "gone-app", "-p", str(folder)).returncode == 0
    assert yun("create-service", "redis", "small", "gone-cache").returncode == 0
    assert yun("create-user-provided-service", "gone-ups", "-p", '{"a": "b"}').returncode == 0
    assert yun("bind-service", "gone-app", "gone-cache").returncode == 0
    assert yun("bind-service", "gone-app", "gone-ups").returncode == 0
    assert yun("create-service-key", "gone-cache", "laptop").returncode == 0
    key = json.loads(yun("service-key", "gone-cache", "laptop").stdout)
    gone = yun("delete-space", "gone", "--recursive", "-f")
    assert gone.returncode == 0, gone.stderr
    lines = gone.stdout.splitlines()
    assert "Deleted service gone-cache." in lines and "Deleted service gone-ups." in lines
    assert lines[-1] == "Deleted space gone of org gone-org (1 app(s))."
    assert "gone" not in [s["name"] for s in json.loads(yun("spaces", "--json").stdout)]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(key["port"])), timeout=2).close()
    yun("delete-org", "gone-org", "-f")
