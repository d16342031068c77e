"""Orgs and spaces through the API on a real store: made, listed, renamed and deleted by
admins only; a space that holds something is deleted only recursively, and never while it
holds service instances; nothing is half-deleted; the default org and space stay, renamed or
not, across restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from yun.store.bootstrap import bootstrap
from yun.store.models import App, Org, Route, ServiceInstance


def _store(client: TestClient) -> Any:
    return client.app.state.ctx.store  # type: ignore[attr-defined]


def _space(client: TestClient, org: str, name: str) -> dict[str, Any]:
    made = client.post("/v3/spaces", json={"org": org, "name": name})
    assert made.status_code == 201, made.text
    return dict(made.json())


def test_orgs_and_spaces_are_made_listed_and_renamed(client: TestClient) -> None:
    assert client.post("/v3/organizations", json={"name": "acme"}).status_code == 201
    assert client.post("/v3/organizations", json={"name": "acme"}).status_code == 409
    bad = client.post("/v3/organizations", json={"name": "no/slash"})
    assert bad.status_code == 422 and bad.json()["error"]["message"].startswith("name")
    prod = _space(client, "acme", "prod")
    assert (prod["org"], prod["apps"], prod["routes"], prod["services"]) == ("acme", 0, 0, 0)
    assert client.post("/v3/spaces", json={"org": "acme", "name": "prod"}).status_code == 409
    lost = client.post("/v3/spaces", json={"org": "nowhere", "name": "x"})
    assert lost.status_code == 404 and "yun orgs" in lost.json()["error"]["message"]
    orgs = {o["name"]: o for o in client.get("/v3/organizations").json()["resources"]}
    assert orgs["acme"]["spaces"] == ["prod"] and orgs["main"]["default"] is True
    renamed = client.patch("/v3/organizations/acme/spaces/prod", json={"name": "production"})
    assert renamed.json()["guid"] == prod["guid"]
    assert client.get("/v3/organizations/acme/spaces/production").json()["guid"] == prod["guid"]
    assert client.patch("/v3/organizations/acme", json={"name": "acme-corp"}).status_code == 200
    spaces = client.get("/v3/spaces", params={"org": "acme-corp"}).json()["resources"]
    assert [s["name"] for s in spaces] == ["production"]


def test_a_user_without_roles_makes_no_org_and_sees_no_space(client: TestClient) -> None:
    client.post("/v3/users", json={"name": "alice", "password": "correct horse"})
    token = client.post(
        "/v3/auth/token", json={"username": "alice", "password": "correct horse"}
    ).json()["access_token"]
    alice = {"Authorization": f"Bearer {token}"}
    for method, path, body, status in (
        ("POST", "/v3/organizations", {"name": "mine"}, 403),
        ("POST", "/v3/spaces", {"org": "main", "name": "mine"}, 404),
        ("DELETE", "/v3/organizations/main/spaces/dev", None, 404),
        ("PATCH", "/v3/organizations/main", {"name": "hers"}, 404),
    ):
        denied = client.request(method, path, json=body, headers=alice)
        assert denied.status_code == status, (method, path)
    assert client.get("/v3/organizations", headers=alice).json()["resources"] == []
    assert client.get("/v3/spaces", headers=alice).json()["resources"] == []


def test_a_space_that_holds_apps_goes_only_recursively_and_takes_them_along(
    client: TestClient, woken: list[str]
) -> None:
    client.post("/v3/organizations", json={"name": "acme"})
    prod = _space(client, "acme", "prod")
    pushed = client.post(
        "/v3/apps/push", json={"application": {"name": "shop"}, "space_guid": prod["guid"]}
    )
    assert pushed.status_code == 200
    kept = client.delete("/v3/organizations/acme/spaces/prod")
    assert kept.status_code == 409 and "apps (shop)" in kept.json()["error"]["message"]
    assert "--recursive" in kept.json()["error"]["message"]
    org_kept = client.delete("/v3/organizations/acme")
    assert org_kept.status_code == 409 and "spaces (prod)" in org_kept.json()["error"]["message"]
    woken.clear()
    gone = client.delete("/v3/organizations/acme/spaces/prod", params={"recursive": "true"})
    assert gone.json() == {"deleted": "prod", "apps": 1}
    assert "instances" in woken and "routes" in woken
    with _store(client).session() as session:
        assert session.scalar(select(App).where(App.name == "shop")) is None
        assert session.scalar(select(Route).where(Route.space_guid == prod["guid"])) is None
    assert client.delete("/v3/organizations/acme").json()["spaces"] == 0


def test_service_instances_stop_a_recursive_delete_before_anything_goes(client: TestClient) -> None:
    client.post("/v3/organizations", json={"name": "acme"})
    prod = _space(client, "acme", "prod")
    client.post("/v3/apps/push", json={"application": {"name": "shop"}, "space_guid": prod["guid"]})
    with _store(client).session() as session:
        session.add(
            ServiceInstance(
                name="db", space_guid=prod["guid"], kind="user-provided", credentials={}
            )
        )
    refused = client.delete("/v3/organizations/acme", params={"recursive": "true"})
    assert refused.status_code == 409
    assert refused.json()["error"]["message"].startswith("space prod has service instances (db)")
    with _store(client).session() as session:
        assert session.scalar(select(App).where(App.name == "shop")) is not None
        assert session.scalar(select(Org).where(Org.name == "acme")) is not None


def test_the_default_org_and_space_stay_and_survive_a_rename_and_restart(
    client: TestClient, tmp_path: Path
) -> None:
    assert client.delete("/v3/organizations/main/spaces/dev").status_code == 409
    assert client.delete("/v3/organizations/main", params={"recursive": "true"}).status_code == 409
    client.patch("/v3/organizations/main", json={"name": "headquarters"})
    client.patch("/v3/organizations/headquarters/spaces/dev", json={"name": "default"})
    before = client.app.state.ctx.defaults  # type: ignore[attr-defined]
    again = bootstrap(_store(client), home=tmp_path, domain="apps.localhost", admin_password="pw")
    assert (again.org_guid, again.space_guid) == (before.org_guid, before.space_guid)
    names = [o["name"] for o in client.get("/v3/organizations").json()["resources"]]
    assert names == ["headquarters"]  # no second `main` made at the next start
