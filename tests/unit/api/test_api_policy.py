"""The access policy, checked for every route the API has (generated from its route table):
each has an entry; without a token only public calls get past (401 otherwise); a user without
the Admin role gets 403 on admin calls and is let through to the others; an admin is never
refused by the policy. A route added without a policy entry fails the first test."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from yun.api.policy import ADMIN, ANYONE, POLICY, PUBLIC


def _routes(client: TestClient) -> list[tuple[str, str]]:
    found = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        included = getattr(route, "original_router", None)
        for each in included.routes if included is not None else [route]:
            path = str(getattr(each, "path", ""))
            if path.startswith("/v3/"):
                found += [(method, path) for method in sorted(getattr(each, "methods", ()))]
    return found


def _call(client: TestClient, method: str, path: str, token: str | None) -> int:
    url = re.sub(r"\{[^}]+\}", "x", path)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: Any = {} if method in ("POST", "PUT", "PATCH") else None
    client.headers.pop("Authorization", None)
    return client.request(method, url, json=body, headers=headers).status_code


@pytest.fixture
def tokens(client: TestClient) -> dict[str, str]:
    admin = client.headers["Authorization"].split()[1]
    client.post("/v3/users", json={"name": "alice", "password": "correct horse"})
    alice = client.post(
        "/v3/auth/token", json={"username": "alice", "password": "correct horse"}
    ).json()["access_token"]
    return {"admin": admin, "alice": alice}


def test_every_route_has_a_policy_and_the_table_names_no_route_that_is_gone(
    client: TestClient,
) -> None:
    routes = set(_routes(client))
    assert routes, "no routes found"
    assert sorted(routes - set(POLICY)) == []  # a new route says who may call it
    assert sorted(set(POLICY) - routes) == []


def test_each_cell_of_the_matrix(client: TestClient, tokens: dict[str, str]) -> None:
    cells = []
    for method, path in _routes(client):
        rule = POLICY[(method, path)]
        if path in ("/v3/auth/logout", "/v3/users/{name}/tokens", "/v3/admin/rotate-key"):
            continue  # they end sessions or change the key: checked in their own tests
        anonymous = _call(client, method, path, None)
        as_user = _call(client, method, path, tokens["alice"])
        as_admin = _call(client, method, path, tokens["admin"])
        cells.append((method, path, rule, anonymous, as_user, as_admin))
    for method, path, rule, anonymous, as_user, as_admin in cells:
        where = f"{method} {path} ({rule})"
        if rule == PUBLIC:
            assert anonymous not in (401, 403), where
        else:
            assert anonymous == 401, where
        if rule == ADMIN:
            assert as_user == 403, where
        if rule in (ANYONE, PUBLIC):
            assert as_user not in (401, 403) or path == "/v3/users/me/password", where
        assert as_admin not in (401, 403) or path == "/v3/users/me/password", where
    assert len(cells) > 70
