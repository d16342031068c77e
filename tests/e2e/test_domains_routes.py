"""Domains and Cloud Foundry's route verbs as a user drives them, through the CLI and the real
HAProxy: a shared domain, `map-route` to a second host name and to a path (the longest path
prefix wins, the app sees the whole path), `unmap-route`, `check-route`, a private domain's
apex and a wildcard route, and a domain deleted with its routes only when forced."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.e2e.conftest import Platform

from yun.store.models import Org, Space
from yun.store.session import Store

pytestmark = pytest.mark.e2e

APP = """\
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{os.environ['WHO']} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


def _push(platform: Platform, folder: Path, name: str) -> None:
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    (folder / "Procfile").write_text("web: python app.py\n")
    (folder / "manifest.yml").write_text(
        f"applications:\n- name: {name}\n  memory: 128M\n  env:\n    WHO: {name}\n"
    )
    platform.cli("push", "-p", str(folder))


def _get(platform: Platform, host: str, path: str = "/") -> httpx.Response:
    return httpx.get(
        f"http://127.0.0.1:{platform.router_port}{path}", headers={"Host": host}, timeout=5
    )


def _answer(platform: Platform, host: str, path: str, expect: str) -> str:
    """What `host` answers at `path` once it answers `expect` (routes apply within moments)."""
    deadline = time.monotonic() + 10
    text = ""
    while time.monotonic() < deadline:
        response = _get(platform, host, path)
        text = f"{response.status_code} {response.text}"
        if text == expect:
            return text
        time.sleep(0.1)
    return text


@pytest.fixture
def apps(platform: Platform) -> Iterator[list[str]]:
    """Names of the apps a test pushes; deleted after it (other tests count the apps)."""
    names: list[str] = []
    yield names
    for name in names:
        platform.cli("delete", name, "-f", check=False)


def test_shared_domain_map_route_paths_and_unmap(
    platform: Platform, tmp_path: Path, apps: list[str]
) -> None:
    apps += ["front", "api"]
    _push(platform, tmp_path / "front", "front")
    _push(platform, tmp_path / "api", "api")
    made = platform.cli("create-shared-domain", "example.test")
    assert made.stdout.strip() == "Created shared domain example.test."
    listed = platform.cli("domains").stdout.splitlines()
    assert any(line.split()[:2] == ["example.test", "shared"] for line in listed), listed

    platform.cli("map-route", "front", "example.test", "--hostname", "www")
    platform.cli("map-route", "api", "example.test", "-n", "www", "--path", "api")
    platform.cli("map-route", "front", "example.test", "-n", "www", "--path", "/api/v1/legacy")
    assert _answer(platform, "www.example.test", "/", "200 front /") == "200 front /"
    assert _answer(platform, "www.example.test", "/api/users?x=1", "200 api /api/users?x=1") == (
        "200 api /api/users?x=1"  # the app sees the whole path
    )
    assert _get(platform, "www.example.test", "/apiary").text == "front /apiary"
    assert _get(platform, "www.example.test", "/api/v1/legacy/x").text == "front /api/v1/legacy/x"
    assert _get(platform, "WWW.Example.Test", "/api").text == "api /api"
    assert _get(platform, "front.apps.localhost").text == "front /"  # the first route stays

    exists = platform.cli("check-route", "example.test", "-n", "www", "--path", "/api")
    assert exists.stdout.strip() == "Route www.example.test/api does exist."
    missing = platform.cli("check-route", "example.test", "-n", "nope")
    assert missing.stdout.strip() == "Route nope.example.test does not exist."
    routes = platform.cli("routes").stdout
    assert "www.example.test/api" in routes and "api" in routes

    unmapped = platform.cli("unmap-route", "api", "example.test", "-n", "www", "--path", "/api")
    assert unmapped.stdout.strip() == "Unmapped route www.example.test/api from app api."
    assert _answer(platform, "www.example.test", "/api/users", "200 front /api/users") == (
        "200 front /api/users"  # nothing maps /api now: the host's own route answers
    )
    again = platform.cli(
        "unmap-route", "api", "example.test", "-n", "www", "--path", "/api", check=False
    )
    assert again.returncode == 1
    assert "is not mapped to app api" in again.stderr

    refused = platform.cli("delete-shared-domain", "example.test", check=False)
    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "route(s)" in refused.stderr and "-f" in refused.stderr
    gone = platform.cli("delete-shared-domain", "example.test", "-f")
    assert gone.stdout.strip() == "Deleted shared domain example.test and its 3 route(s)."
    assert _answer(platform, "www.example.test", "/", "404").startswith("404")


def test_a_private_domain_apex_and_wrong_input(
    platform: Platform, tmp_path: Path, apps: list[str]
) -> None:
    apps.append("site")
    _push(platform, tmp_path / "site", "site")
    platform.cli("create-private-domain", "main", "team.test")
    platform.cli("map-route", "site", "team.test")  # the domain's own name
    assert _answer(platform, "team.test", "/about", "200 site /about") == "200 site /about"
    platform.cli("map-route", "site", "team.test", "-n", "*")  # a wildcard route
    assert _answer(platform, "blog.team.test", "/", "200 site /") == "200 site /"
    assert _get(platform, "a.blog.team.test").status_code == 404  # one label only
    created = platform.cli("create-route", "team.test", "-n", "docs")
    assert created.stdout.strip() == "Created route docs.team.test."
    twice = platform.cli("create-route", "team.test", "-n", "docs")
    assert twice.stdout.strip() == "Route docs.team.test already exists."
    deleted = platform.cli("delete-route", "team.test", "-n", "docs", "-f")
    assert deleted.stdout.strip() == "Deleted route docs.team.test."

    for args, said in [
        (("create-shared-domain", "not a domain"), "is not a domain name"),
        (("create-private-domain", "nobody", "x.test"), "org 'nobody' not found"),
        (("map-route", "site", "nowhere.test"), "domain 'nowhere.test' not found"),
        (("create-route", "team.test", "-n", "a b"), "is not a host name"),
        (("map-route", "site", "apps.localhost"), "needs a host"),
        (("delete-shared-domain", "team.test"), "is a private domain"),
    ]:
        result = platform.cli(*args, check=False)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert said in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
    platform.cli("delete-private-domain", "team.test", "-f")


def _rival_space(platform: Platform) -> tuple[str, str]:
    """A second org with a space, written into the server's store (orgs and spaces get their
    API and CLI with multi-tenancy; the refusals below are already the API's): (org name,
    space guid)."""
    store = Store(f"sqlite:///{platform.home / 'yun.db'}")
    try:
        with store.session() as session:
            org = Org(name=f"rivals-{time.monotonic_ns()}")
            session.add(org)
            session.flush()
            space = Space(name="prod", org_guid=org.guid)
            session.add(space)
            session.flush()
            return org.name, space.guid
    finally:
        store.close()


def test_a_private_domain_and_a_spaces_routes_stay_with_their_org_and_space(
    platform: Platform, tmp_path: Path, apps: list[str]
) -> None:
    apps.append("home")
    _push(platform, tmp_path / "home", "home")
    rivals, space = _rival_space(platform)
    token = json.loads((Path(platform.env["YUN_CONFIG_DIR"]) / "config.json").read_text())["token"]
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{platform.api_port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    # The other space's app holds a route on the shared domain (pushed through the API: the CLI
    # targets its own space).
    application = {"name": "stranger", "routes": [{"route": "held.apps.localhost"}]}
    pushed = api.post("/v3/apps/push", json={"application": application, "space_guid": space})
    assert pushed.status_code == 200, pushed.text
    platform.cli("create-private-domain", rivals, "rival.test")
    try:
        private = platform.cli("map-route", "home", "rival.test", "-n", "spy", check=False)
        assert private.returncode == 1
        assert private.stderr.strip() == f"error: domain rival.test is private to org {rivals}"
        held = platform.cli("map-route", "home", "apps.localhost", "-n", "held", check=False)
        assert held.returncode == 1
        assert "belongs to another space" in held.stderr
        assert len(held.stderr.strip().splitlines()) == 1

        assert _get(platform, "spy.rival.test").status_code == 404
        assert _get(platform, "held.apps.localhost").text != "home /"
        assert _get(platform, "home.apps.localhost").text == "home /"
    finally:
        api.delete(f"/v3/apps/{pushed.json()['guid']}")
        platform.cli("delete-private-domain", "rival.test", "-f", check=False)
        api.close()
