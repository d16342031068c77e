"""Users and sessions through the API, on a real store: logins give an access and a refresh
token, refreshing rotates them, logout and revocation end sessions, admins manage users,
passwords are argon2id (old scrypt ones are upgraded at login), and failed logins are audited
and throttled per user and address while the owner still gets in from elsewhere."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from yun.store.models import Event, Token, User


def _login(client: TestClient, name: str = "admin", password: str = "pw") -> dict[str, Any]:
    reply = client.post("/v3/auth/token", json={"username": name, "password": password})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def _as(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def _store(client: TestClient) -> Any:
    return client.app.state.ctx.store  # type: ignore[attr-defined]


def _events(client: TestClient, type_: str) -> list[Event]:
    with _store(client).session() as session:
        found = list(session.scalars(select(Event).where(Event.type == type_)))
        session.expunge_all()
        return found


def test_a_login_gives_a_short_access_token_and_a_refresh_token(client: TestClient) -> None:
    tokens = _login(client)
    assert tokens["expires_in"] == 900 and tokens["token_type"] == "bearer"
    assert client.get("/v3/apps", headers=_as(tokens)).status_code == 200
    as_bearer = {"Authorization": f"Bearer {tokens['refresh_token']}"}
    assert client.get("/v3/apps", headers=as_bearer).status_code == 401  # not an access token
    assert _events(client, "audit.login.success")[-1].actor == "admin"


def test_refreshing_rotates_the_pair_and_an_expired_access_token_is_refused(
    client: TestClient,
) -> None:
    tokens = _login(client)
    with _store(client).session() as session:
        session.execute(
            update(Token).where(Token.kind == "access").values(expires_at=time.time() - 1)
        )
    expired = client.get("/v3/apps", headers=_as(tokens))
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    fresh = client.post("/v3/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert fresh.status_code == 200
    assert client.get("/v3/apps", headers=_as(fresh.json())).status_code == 200
    reused = client.post("/v3/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 401  # a refresh token works once
    assert "yun login" in reused.json()["error"]["message"]


def test_logout_ends_the_session_and_no_other(client: TestClient) -> None:
    first, second = _login(client), _login(client)
    client.headers.pop("Authorization")
    assert client.post("/v3/auth/logout", headers=_as(first)).json() == {"revoked": 2}
    assert client.get("/v3/apps", headers=_as(first)).status_code == 401
    gone = client.post("/v3/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert gone.status_code == 401
    assert client.get("/v3/apps", headers=_as(second)).status_code == 200


def test_admins_manage_users_and_users_do_not(client: TestClient) -> None:
    made = client.post("/v3/users", json={"name": "alice", "password": "correct horse"})
    assert made.status_code == 201 and made.json()["admin"] is False
    again = client.post("/v3/users", json={"name": "alice", "password": "correct horse"})
    assert again.status_code == 409
    for body, field in (
        ({"name": "bad name", "password": "long enough"}, "name"),
        ({"name": "bob", "password": "short"}, "password"),
    ):
        refused = client.post("/v3/users", json=body)
        assert refused.status_code == 422 and refused.json()["error"]["message"].startswith(field)
    assert [u["name"] for u in client.get("/v3/users").json()["resources"]] == ["admin", "alice"]

    alice = _as(_login(client, "alice", "correct horse"))
    for method, path in (
        ("GET", "/v3/users"),
        ("POST", "/v3/users"),
        ("DELETE", "/v3/users/admin"),
    ):
        body = {"name": "mallory", "password": "12345678"} if method == "POST" else None
        denied = client.request(method, path, headers=alice, json=body)
        assert denied.status_code == 403, (method, path)
        assert denied.json()["error"]["message"] == "alice may not do this: it needs the Admin role"

    assert client.delete("/v3/users/alice").status_code == 200
    assert client.get("/v3/apps", headers=alice).status_code == 401  # her sessions ended
    last = client.delete("/v3/users/admin")
    assert last.status_code == 409 and "last admin" in last.json()["error"]["message"]
    assert client.delete("/v3/users/nobody").status_code == 404


def test_changing_a_password_ends_the_other_sessions(client: TestClient) -> None:
    client.post("/v3/users", json={"name": "alice", "password": "first password"})
    here, elsewhere = (
        _login(client, "alice", "first password"),
        _login(client, "alice", "first password"),
    )
    wrong = client.put(
        "/v3/users/me/password",
        headers=_as(here),
        json={"current_password": "not it", "password": "second password"},
    )
    assert wrong.status_code == 403 and wrong.json()["error"]["message"].startswith(
        "current_password"
    )
    assert _events(client, "audit.user.password_failure")
    changed = client.put(
        "/v3/users/me/password",
        headers=_as(here),
        json={"current_password": "first password", "password": "second password"},
    )
    assert changed.json() == {"user": "alice", "sessions_ended": 1}
    assert client.get("/v3/ca", headers=_as(here)).status_code != 401  # this one goes on
    assert client.get("/v3/ca", headers=_as(elsewhere)).status_code == 401
    assert (
        client.post(
            "/v3/auth/token", json={"username": "alice", "password": "first password"}
        ).status_code
        == 401
    )
    _login(client, "alice", "second password")


def test_revoking_a_users_tokens_ends_all_their_sessions(client: TestClient) -> None:
    client.post("/v3/users", json={"name": "alice", "password": "correct horse"})
    one, two = _login(client, "alice", "correct horse"), _login(client, "alice", "correct horse")
    assert client.delete("/v3/users/alice/tokens").json() == {"user": "alice", "sessions_ended": 2}
    for tokens in (one, two):
        assert client.get("/v3/apps", headers=_as(tokens)).status_code == 401
    mine = client.delete(
        "/v3/users/admin/tokens", headers=_as(_login(client, "alice", "correct horse"))
    )
    assert mine.status_code == 403


def test_a_scrypt_password_from_before_still_works_and_becomes_argon2id(
    client: TestClient,
) -> None:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(b"old secret", salt=salt, n=2**14, r=8, p=1)
    with _store(client).session() as session:
        session.add(User(name="veteran", password_hash=f"scrypt${salt.hex()}${key.hex()}"))
    _login(client, "veteran", "old secret")
    with _store(client).session() as session:
        stored = session.scalar(select(User.password_hash).where(User.name == "veteran"))
    assert stored is not None and stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    _login(client, "veteran", "old secret")


def test_failed_logins_are_audited_and_throttled_but_the_owner_gets_in_from_elsewhere(
    client: TestClient,
) -> None:
    for _ in range(5):
        bad = client.post("/v3/auth/token", json={"username": "admin", "password": "guess"})
        assert (
            bad.status_code == 401
            and bad.json()["error"]["message"] == "wrong username or password"
        )
    throttled = client.post("/v3/auth/token", json={"username": "admin", "password": "pw"})
    assert throttled.status_code == 429
    wait = int(throttled.headers["Retry-After"])
    assert 0 < wait <= 900
    assert f"try again in {wait}s" in throttled.json()["error"]["message"]
    failures = _events(client, "audit.login.failure")
    assert len(failures) == 5
    assert (failures[0].address, failures[0].outcome) == ("testclient", "failure")
    assert len(failures[0].request_id) == 32
    assert _events(client, "audit.login.throttled")
    with TestClient(client.app, client=("192.0.2.7", 40000)) as other:
        good = other.post("/v3/auth/token", json={"username": "admin", "password": "pw"})
        assert good.status_code == 200
    unknown = client.post("/v3/auth/token", json={"username": "nobody", "password": "x"})
    assert unknown.status_code == 401  # another user from the same address: not yet throttled
