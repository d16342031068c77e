"""Two teams on one platform, through the CLI: each developer has SpaceDeveloper in their own
org's space and nothing else. Dora (org acme) cannot list, read, log-tail, bind to, route to or
scale anything of Bert's (org globex), by name through `yun` or by guid through the API (each
gets the 404 of something missing), and cannot map a route Bert's app holds. An auditor of
acme sees Dora's app but neither its environment nor its service's credentials. A space held
to a quota refuses the scale that would pass it, and `yun space` shows what is used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import Platform, other_cli

pytestmark = pytest.mark.e2e

APP = """\
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ.get("GREETING", "hi").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


def _user(platform: Platform, tmp_path: Path, name: str) -> Any:
    secret = tmp_path / f"{name}.pw"
    secret.write_text(f"{name}'s password\n")
    assert platform.cli("create-user", name, "--password-file", str(secret)).returncode == 0
    yun = other_cli(platform, tmp_path / name)
    api = f"http://127.0.0.1:{platform.api_port}"
    logged = yun("login", "-a", api, "-u", name, "-p", f"{name}'s password")
    assert logged.returncode == 0, logged.stderr
    return yun


def _token(tmp_path: Path, name: str) -> dict[str, str]:
    config = json.loads((tmp_path / name / "config.json").read_text())
    return {"Authorization": f"Bearer {config['token']}"}


def _push(yun: Any, folder: Path, name: str, greeting: str) -> None:
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    (folder / "Procfile").write_text("web: python app.py\n")
    manifest = f"applications:\n- name: {name}\n  env:\n    GREETING: {greeting}\n"
    (folder / "manifest.yml").write_text(manifest)
    pushed = yun("push", "-p", str(folder), "-f", str(folder / "manifest.yml"))
    assert pushed.returncode == 0, pushed.stderr


def test_a_developer_of_one_org_can_do_nothing_with_another_orgs_apps(
    platform: Platform, tmp_path: Path
) -> None:
    for org in ("iso-a", "iso-b"):
        platform.cli("create-org", org)
        platform.cli("create-space", "prod", "-o", org)
    dora, bert = _user(platform, tmp_path, "dora"), _user(platform, tmp_path, "bert")
    audrey = _user(platform, tmp_path, "audrey")
    for user, org, role in (
        ("dora", "iso-a", "SpaceDeveloper"),
        ("bert", "iso-b", "SpaceDeveloper"),
        ("audrey", "iso-a", "SpaceAuditor"),
    ):
        set_ = platform.cli("set-space-role", user, org, "prod", role)
        assert set_.stdout.splitlines() == [
            f"{user} is now OrgUser of org {org}.",
            f"{user} is {role} of space prod in org {org}.",
        ]
    for yun, org in ((dora, "iso-a"), (bert, "iso-b"), (audrey, "iso-a")):
        picked = yun("target", "-o", org, "-s", "prod")
        assert picked.returncode == 0, picked.stderr
    members = platform.cli("space-users", "iso-a", "prod").stdout.splitlines()
    assert [line.split() for line in members[1:]] == [
        ["SpaceAuditor", "audrey"],
        ["SpaceDeveloper", "dora"],
    ]

    _push(bert, tmp_path / "vault-bank", "vault-bank", "vault")
    assert bert("create-user-provided-service", "vault-db", "-p", '{"pw": "t0p"}').returncode == 0
    _push(dora, tmp_path / "corner-shop", "corner-shop", "s3cret-greeting")
    assert dora("create-user-provided-service", "corner-db", "-p", '{"pw": "s3"}').returncode == 0
    assert dora("bind-service", "corner-shop", "corner-db").returncode == 0

    # By name, through yun: another org's things are not there.
    assert "vault-bank" not in dora("apps").stdout
    assert "vault-bank" not in dora("routes").stdout
    assert "vault-db" not in dora("services").stdout
    assert "iso-b" not in dora("orgs").stdout
    gone = dora("target", "-o", "iso-b", "-s", "prod")
    assert gone.returncode == 1 and "not found in org iso-b" in gone.stderr
    for args in (
        ("app", "vault-bank"),
        ("logs", "vault-bank", "--recent"),
        ("scale", "vault-bank", "-i", "2"),
        ("bind-service", "corner-shop", "vault-db"),
        ("env", "vault-bank"),
    ):
        refused = dora(*args)
        assert refused.returncode == 1 and "not found" in refused.stderr, (args, refused.stderr)
    taken = dora("map-route", "corner-shop", "apps.localhost", "--hostname", "vault-bank")
    assert taken.returncode == 1 and "exists in another space" in taken.stderr
    assert platform.get("vault-bank").text == "vault"  # bank is still bank's
    events = dora("events", "--json")
    assert "vault-bank" not in events.stdout and "iso-b" not in events.stdout

    # By guid, through the API: the same 404 as for something missing.
    bank = _find(platform, "vault-bank")
    bank_db = _service(platform, "vault-db")
    shop = _find(platform, "corner-shop")
    base = f"http://127.0.0.1:{platform.api_port}"
    as_dora = _token(tmp_path, "dora")
    route = next(r for r in _get(platform, "/v3/routes")["resources"] if r["host"] == "vault-bank")
    for method, path, body in (
        ("GET", f"/v3/apps/{bank['guid']}", None),
        ("GET", f"/v3/apps/{bank['guid']}/logs", None),
        ("GET", f"/v3/apps/{bank['guid']}/env", None),
        ("PATCH", f"/v3/apps/{bank['guid']}/processes/web", {"instances": 3}),
        ("POST", "/v3/service_bindings", {"service_instance": bank_db, "app": shop["guid"]}),
        ("POST", f"/v3/routes/{route['guid']}/destinations", {"app": shop["guid"]}),
        ("DELETE", f"/v3/apps/{bank['guid']}", None),
    ):
        answer = httpx.request(method, base + path, json=body, headers=as_dora)
        assert answer.status_code == 404 and "not found" in answer.json()["error"]["message"], (
            path,
            answer,
        )
    assert platform.get("vault-bank").text == "vault"

    # An auditor sees the app, not its secrets.
    assert "corner-shop" in audrey("apps").stdout
    env = audrey("env", "corner-shop")
    assert env.returncode == 1 and "SpaceDeveloper" in env.stderr
    shown = audrey("app", "corner-shop", "--json").stdout
    assert "corner-shop" in shown and "s3cret-greeting" not in shown
    as_audrey = _token(tmp_path, "audrey")
    bindings = httpx.get(f"{base}/v3/service_bindings", headers=as_audrey).json()["resources"]
    assert [b["credentials"] for b in bindings] == [{"pw": "[redacted]"}]
    stop = audrey("stop", "corner-shop")
    assert stop.returncode == 1 and "may not" in stop.stderr


def _get(platform: Platform, path: str) -> Any:
    config = json.loads((Path(platform.env["YUN_CONFIG_DIR"]) / "config.json").read_text())
    answer = httpx.get(
        f"http://127.0.0.1:{platform.api_port}{path}",
        headers={"Authorization": f"Bearer {config['token']}"},
    )
    answer.raise_for_status()
    return answer.json()


def _find(platform: Platform, name: str) -> Any:
    for space in _get(platform, "/v3/spaces")["resources"]:
        found = _get(platform, f"/v3/apps?space_guid={space['guid']}&name={name}")["resources"]
        if found:
            return found[0]
    raise AssertionError(f"no app {name}")


def _service(platform: Platform, name: str) -> str:
    for space in _get(platform, "/v3/spaces")["resources"]:
        path = f"/v3/service_instances?space_guid={space['guid']}&name={name}"
        found = _get(platform, path)["resources"]
        if found:
            return str(found[0]["guid"])
    raise AssertionError(f"no service {name}")


def test_a_space_quota_stops_a_scale_and_shows_what_is_used(
    platform: Platform, tmp_path: Path
) -> None:
    platform.cli("create-org", "iso-q")
    platform.cli("create-space", "prod", "-o", "iso-q")
    made = platform.cli("create-quota", "tiny", "--memory", "512M", "--routes", "-1")
    assert (
        made.stdout.strip() == "Created quota tiny. Hold an org to it: yun set-org-quota ORG tiny"
    )
    listed = platform.cli("quotas").stdout.splitlines()
    assert listed[1].split()[:3] == ["tiny", "512M", "unlimited"]
    held = platform.cli("set-space-quota", "prod", "tiny", "-o", "iso-q")
    assert held.stdout.strip() == "Space prod of org iso-q is held to quota tiny."
    yun = other_cli(platform, tmp_path / "q-admin")
    yun("login", "-a", f"http://127.0.0.1:{platform.api_port}", "-u", "admin", "-p", "e2e-secret")
    yun("target", "-o", "iso-q", "-s", "prod")
    _push(yun, tmp_path / "quota-app", "quota-app", "fits")
    assert platform.get("quota-app").text == "fits"
    refused = yun("scale", "quota-app", "-i", "3")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: quota tiny of space prod allows 512M memory; this needs 768M (256M in use,"
        " 512M more)"
    )
    shown = yun("space", "prod").stdout
    assert "tiny" in shown and "256M of 512M" in shown
    assert yun("delete-quota", "tiny").returncode == 1  # held: kept
