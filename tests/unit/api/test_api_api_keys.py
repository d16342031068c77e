"""API keys and plans of a route through the API: a key is shown once and kept as its digest;
plans are checked and a plan in use is not deleted; usage comes from the router's counters;
changes wake the router and are audited; auditors list, developers change."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from fastapi.testclient import TestClient
from tests.unit.api.test_api_roles import _user

from yun.store.models import ApiKey


def _route(client: TestClient) -> str:
    client.post("/v3/apps/push", json={"application": {"name": "shop"}})
    (route,) = client.get("/v3/routes").json()["resources"]
    return str(route["guid"])


def test_plans_and_keys_are_made_listed_and_deleted(client: TestClient, woken: list[str]) -> None:
    guid = _route(client)
    base = f"/v3/routes/{guid}"
    plan = client.post(
        f"{base}/api_plans", json={"name": "free", "rate_limit": "5/1s", "quota": "1000/1d"}
    )
    assert plan.status_code == 201, plan.text
    assert (plan.json()["rate_limit"], plan.json()["quota"]) == ("5/1s", "1000/1d")
    woken.clear()
    made = client.post(f"{base}/api_keys", json={"plan": "free", "name": "mobile"})
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    assert key.startswith("yun_") and len(key) == 47
    assert made.json()["prefix"] == key[:10] and "routes" in woken

    store = client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.session() as session:
        (row,) = session.query(ApiKey).all()
        assert row.digest == hashlib.sha256(key.encode()).hexdigest()  # never the key itself
    listed = client.get(f"{base}/api_keys").json()["resources"]
    assert [(k["name"], k["plan"]) for k in listed] == [("mobile", "free")]
    assert "key" not in listed[0] and key not in str(listed)
    second = client.post(f"{base}/api_keys", json={}).json()
    assert (second["name"], second["plan"]) == ("key-2", "")
    plans = client.get(f"{base}/api_plans").json()["resources"]
    assert [(p["name"], p["keys"]) for p in plans] == [("free", 1)]

    in_use = client.delete(f"{base}/api_plans/free")
    assert in_use.status_code == 422 and "1 key(s)" in in_use.json()["error"]["message"]
    assert client.delete(f"{base}/api_keys/mobile").json()["name"] == "mobile"
    assert client.delete(f"{base}/api_plans/free").json()["name"] == "free"
    assert [k["name"] for k in client.get(f"{base}/api_keys").json()["resources"]] == ["key-2"]
    types = [e["type"] for e in client.get("/v3/events").json()["resources"]]
    for kind in ("api_plan.update", "api_key.create", "api_key.delete", "api_plan.delete"):
        assert f"audit.{kind}" in types, kind


def test_wrong_input_names_the_field(client: TestClient) -> None:
    base = f"/v3/routes/{_route(client)}"
    for body, message in (
        ({"name": "free", "rate_limit": "fast"}, "rate_limit"),
        ({"name": "free", "quota": "10/2d"}, "quota"),
        ({"name": "no spaces"}, "name"),
    ):
        wrong = client.post(f"{base}/api_plans", json=body)
        assert wrong.status_code == 422 and message in wrong.json()["error"]["message"], body
    unknown = client.post(f"{base}/api_keys", json={"plan": "gold"})
    assert unknown.status_code == 422 and "no plan 'gold'" in unknown.json()["error"]["message"]
    client.post(f"{base}/api_keys", json={"name": "one"})
    twice = client.post(f"{base}/api_keys", json={"name": "one"})
    assert twice.status_code == 409
    assert client.get("/v3/routes/nope/api_keys").status_code == 404
    assert client.delete(f"{base}/api_keys/none").status_code == 404


def test_usage_is_what_the_router_counted_in_the_current_windows(client: TestClient) -> None:
    guid = _route(client)
    base = f"/v3/routes/{guid}"
    client.post(
        f"{base}/api_plans", json={"name": "free", "rate_limit": "5/10s", "quota": "100/1h"}
    )
    key = client.post(f"{base}/api_keys", json={"plan": "free"}).json()["key"]
    digest = hashlib.sha256(key.encode()).hexdigest()
    now = int(time.time())
    counted: dict[str, Any] = {
        f"{now // 10}/r/{digest}": 4,
        f"{now // 10 - 1}/r/{digest}": 9,  # an earlier window
        f"{now // 3600}/q/{digest}": 42,
    }
    asked: list[str] = []
    client.app.state.ctx.key_counts = lambda scope: asked.append(scope) or counted  # type: ignore[attr-defined]
    (listed,) = client.get(f"{base}/api_keys").json()["resources"]
    assert asked == [guid]
    rate, quota = listed["usage"]["rate"], listed["usage"]["quota"]
    assert (rate["used"], rate["limit"], quota["used"], quota["limit"]) == (4, 5, 42, 100)
    assert 0 < rate["resets_in"] <= 10 and 0 < quota["resets_in"] <= 3600


def test_auditors_list_keys_and_developers_make_them(client: TestClient) -> None:
    base = f"/v3/routes/{_route(client)}"
    space = client.get("/v3/spaces").json()["resources"][0]
    roles = f"/v3/organizations/{space['org']}/spaces/{space['name']}/users"
    audrey, dev = _user(client, "audrey"), _user(client, "dev")
    client.put(f"{roles}/audrey/roles/SpaceAuditor")
    client.put(f"{roles}/dev/roles/SpaceDeveloper")
    assert client.get(f"{base}/api_keys", headers=audrey).status_code == 200
    assert client.post(f"{base}/api_keys", json={}, headers=audrey).status_code == 403
    assert client.post(f"{base}/api_keys", json={}, headers=dev).status_code == 201
    assert client.get(f"{base}/api_keys", headers=_user(client, "stranger")).status_code == 404
