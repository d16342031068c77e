"""Users and sessions through the CLI, as a team would use them: an admin creates a user from a
password file, the user logs in with a CLI of their own, is refused admin verbs, changes their
password, and is logged out by `yun logout` or by the admin's `yun revoke-tokens`; an access
token that ran out is refreshed without the user noticing; bad logins are throttled (429 with
Retry-After) while a good login from another address gets in."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from tests.e2e.conftest import Platform, other_cli

from yun.store.models import Token
from yun.store.session import Store

pytestmark = pytest.mark.e2e


def _secret(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text + "\n")
    path.chmod(0o600)
    return str(path)


def test_a_user_made_by_an_admin_logs_in_changes_password_and_is_logged_out(
    platform: Platform, tmp_path: Path
) -> None:
    first = _secret(tmp_path, "alice.pw", "alice's first password")
    made = platform.cli("create-user", "alice", "--password-file", first)
    assert made.stdout.strip() == "Created user alice."
    assert any(
        line.split()[:2] == ["alice", "no"] for line in platform.cli("users").stdout.splitlines()
    )
    short = platform.cli(
        "create-user", "bob", "--password-file", _secret(tmp_path, "s", "short"), check=False
    )
    assert short.returncode == 1 and "password" in short.stderr and "8" in short.stderr
    asked = platform.cli("create-user", "carol", check=False)
    assert asked.returncode == 1 and "--password-file" in asked.stderr

    alice = other_cli(platform, tmp_path / "alice-config")
    api = f"http://127.0.0.1:{platform.api_port}"
    logged = alice("login", "-a", api, "-u", "alice", "-p", "alice's first password")
    assert logged.returncode == 0, logged.stderr
    assert alice("ca").returncode == 0  # logged in: what any user may do works
    assert "Target: org (none), space (none)." in logged.stdout  # she has no roles yet
    apps = alice("apps")
    assert apps.returncode == 1 and "no org and space targeted" in apps.stderr
    refused = alice("users")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: alice may not do this: it needs the Admin role"

    second = _secret(tmp_path, "alice2.pw", "alice's second password")
    changed = alice("passwd", "--current-password-file", first, "--password-file", second)
    assert changed.stdout.strip() == "Password changed for alice; 0 other session(s) ended."
    assert alice("ca").returncode == 0  # this session goes on

    revoked = platform.cli("revoke-tokens", "alice")
    assert revoked.stdout.strip() == "Ended 1 session(s) of alice."
    after = alice("ca")
    assert after.returncode == 1 and "yun login" in after.stderr

    alice("login", "-a", api, "-u", "alice", "-p", "alice's second password")
    out = alice("logout")
    assert out.stdout.strip() == f"Logged out of {api}."
    gone = alice("ca")
    assert gone.returncode == 1 and "not logged in" in gone.stderr
    platform.cli("delete-user", "alice", "-f")
    assert "alice" not in platform.cli("users").stdout


def test_an_access_token_that_ran_out_is_refreshed_without_the_user_noticing(
    platform: Platform, tmp_path: Path
) -> None:
    mine = other_cli(platform, tmp_path / "config")
    api = f"http://127.0.0.1:{platform.api_port}"
    assert mine("login", "-a", api, "-u", "admin", "-p", "e2e-secret").returncode == 0
    config_file = tmp_path / "config" / "config.json"
    saved = json.loads(config_file.read_text())

    # The CLI knows its token ran out: it refreshes before calling.
    config_file.write_text(json.dumps({**saved, "expires_at": time.time() - 1}))
    assert mine("apps").returncode == 0
    refreshed = json.loads(config_file.read_text())
    assert refreshed["token"] != saved["token"]
    assert refreshed["refresh_token"] != saved["refresh_token"]

    # The server ended it first (clocks differ): the refused call is refreshed and sent again.
    store = Store(f"sqlite:///{platform.home / 'yun.db'}")
    try:
        with store.session() as session:
            for token in session.query(Token).filter(Token.kind == "access"):
                token.expires_at = time.time() - 1
    finally:
        store.close()
    again = mine("apps")
    assert again.returncode == 0, again.stderr
    assert json.loads(config_file.read_text())["token"] != refreshed["token"]
    platform.cli("apps")  # the session fixture's CLI refreshes the same way


def test_bad_logins_are_throttled_and_the_owner_gets_in_from_another_address(
    platform: Platform, tmp_path: Path
) -> None:
    platform.cli(
        "create-user", "dave", "--password-file", _secret(tmp_path, "d", "dave's password")
    )
    guesser = other_cli(platform, tmp_path / "guesser")
    api = f"http://127.0.0.1:{platform.api_port}"
    for _ in range(5):
        wrong = guesser("login", "-a", api, "-u", "dave", "-p", "guess")
        assert wrong.stderr.strip() == "error: wrong username or password"
    blocked = guesser("login", "-a", api, "-u", "dave", "-p", "dave's password")
    assert blocked.returncode == 1
    assert "too many failed logins for dave from 127.0.0.1; try again in" in blocked.stderr
    direct = httpx.post(f"{api}/v3/auth/token", json={"username": "dave", "password": "x"})
    assert direct.status_code == 429 and int(direct.headers["Retry-After"]) > 0

    elsewhere = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with elsewhere:
        good = elsewhere.post(
            f"{api}/v3/auth/token", json={"username": "dave", "password": "dave's password"}
        )
    assert good.status_code == 200

    trail = platform.cli(
        "events", "--actor", "dave", "--type", "audit.login", "--since", "10m", "--json"
    )
    found = json.loads(trail.stdout)
    failures = [e for e in found if e["type"] == "audit.login.failure"]
    assert len(failures) == 5
    assert {(e["address"], e["outcome"]) for e in failures} == {("127.0.0.1", "failure")}
    assert {e["type"] for e in found} >= {"audit.login.throttled", "audit.login.success"}
    table = platform.cli("events", "--actor", "dave", "--type", "audit.login.throttled").stdout
    assert "audit.login.throttled" in table and "denied" in table and "127.0.0.1" in table
    platform.cli("delete-user", "dave", "-f")
