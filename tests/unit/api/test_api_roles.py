"""Org and space roles through the API: assigning and removing them, who may, what they let a
user see and do, and what auditors are not shown."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def _user(client: TestClient, name: str) -> dict[str, str]:
    client.post("/v3/users", json={"name": name, "password": "correct horse"})
    token = client.post(
        "/v3/auth/token", json={"username": name, "password": "correct horse"}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _space(client: TestClient, org: str, name: str) -> dict[str, Any]:
    client.post("/v3/organizations", json={"name": org})
    made = client.post("/v3/spaces", json={"org": org, "name": name})
    assert made.status_code == 201, made.text
    return dict(made.json())


def _roles(client: TestClient, path: str, headers: dict[str, str] | None = None) -> set[str]:
    listed = client.get(path, headers=headers)
    assert listed.status_code == 200, listed.text
    return {f"{r['user']}:{r['role']}" for r in listed.json()["resources"]}


def test_a_space_role_makes_the_user_an_org_user_and_both_are_listed(client: TestClient) -> None:
    _space(client, "acme", "prod")
    _user(client, "alice")
    set_ = client.put("/v3/organizations/acme/spaces/prod/users/alice/roles/space_developer")
    assert set_.status_code == 200, set_.text
    assert set_.json()["role"] == "SpaceDeveloper" and set_.json()["org_user_added"] is True
    again = client.put("/v3/organizations/acme/spaces/prod/users/alice/roles/SpaceDeveloper")
    assert again.json()["changed"] is False  # it was there: nothing changes, no error
    assert _roles(client, "/v3/organizations/acme/users") == {"alice:OrgUser"}
    assert _roles(client, "/v3/organizations/acme/spaces/prod/users") == {"alice:SpaceDeveloper"}
    kept = client.delete("/v3/organizations/acme/users/alice/roles/OrgUser")
    assert kept.status_code == 409 and "prod" in kept.json()["error"]["message"]
    gone = client.delete("/v3/organizations/acme/spaces/prod/users/alice/roles/SpaceDeveloper")
    assert gone.json()["changed"] is True
    assert client.delete("/v3/organizations/acme/users/alice/roles/OrgUser").status_code == 200
    assert _roles(client, "/v3/organizations/acme/users") == set()
    changes = client.get("/v3/events", params={"type": "audit.role"}).json()["resources"]
    assert [e["type"] for e in changes] == [
        "audit.role.unset",
        "audit.role.unset",
        "audit.role.set",
        "audit.role.set",
    ]
    assert changes[0]["data"] == {"user": "alice", "org": "acme", "role": "OrgUser"}


def test_wrong_roles_users_and_places_are_named(client: TestClient) -> None:
    _space(client, "acme", "prod")
    _user(client, "alice")
    wrong = client.put("/v3/organizations/acme/users/alice/roles/SpaceDeveloper")
    assert wrong.status_code == 422
    assert wrong.json()["error"]["message"].startswith("role: SpaceDeveloper is not an org role")
    assert "OrgManager" in wrong.json()["error"]["message"]
    nobody = client.put("/v3/organizations/acme/users/bob/roles/OrgUser")
    assert nobody.status_code == 404 and "user bob" in nobody.json()["error"]["message"]
    nowhere = client.put("/v3/organizations/acme/spaces/qa/users/alice/roles/SpaceAuditor")
    assert nowhere.status_code == 404 and "space qa" in nowhere.json()["error"]["message"]


def test_an_org_manager_runs_the_org_and_a_space_manager_only_their_space(
    client: TestClient,
) -> None:
    _space(client, "acme", "prod")
    _space(client, "other", "dev")
    olga, sam, alice = _user(client, "olga"), _user(client, "sam"), _user(client, "alice")
    client.put("/v3/organizations/acme/users/olga/roles/OrgManager")
    client.put("/v3/organizations/acme/spaces/prod/users/sam/roles/SpaceManager")
    made = client.post("/v3/spaces", json={"org": "acme", "name": "qa"}, headers=olga)
    assert made.status_code == 201, made.text
    # As in Cloud Foundry, the OrgManager who made it may use it.
    assert _roles(client, "/v3/organizations/acme/spaces/qa/users", olga) == {
        "olga:SpaceDeveloper",
        "olga:SpaceManager",
    }
    assert (
        client.put("/v3/organizations/acme/users/alice/roles/OrgAuditor", headers=olga).status_code
        == 200
    )
    assert client.post("/v3/organizations", json={"name": "x"}, headers=olga).status_code == 403
    other = client.post("/v3/spaces", json={"org": "other", "name": "qa"}, headers=olga)
    assert other.status_code == 404  # olga is not in org other: it is as if it were not there
    to_prod = "/v3/organizations/acme/spaces/prod/users/alice/roles/SpaceAuditor"
    assert client.put(to_prod, headers=sam).status_code == 200
    to_qa = "/v3/organizations/acme/spaces/qa/users/alice/roles/SpaceAuditor"
    assert client.put(to_qa, headers=sam).status_code == 404  # sam does not see space qa
    org_role = client.put("/v3/organizations/acme/users/alice/roles/OrgManager", headers=sam)
    assert org_role.status_code == 403 and "OrgManager" in org_role.json()["error"]["message"]
    assert (
        client.delete("/v3/organizations/acme/spaces/prod", headers=sam).status_code == 403
    )  # a SpaceManager sees the space but may not delete it
    spaces = client.get("/v3/spaces", headers=alice).json()["resources"]
    assert sorted(s["name"] for s in spaces) == ["prod", "qa"]  # an OrgAuditor sees them all
    assert [
        o["name"] for o in client.get("/v3/organizations", headers=sam).json()["resources"]
    ] == ["acme"]


def test_developers_see_their_space_only_and_auditors_no_secrets(client: TestClient) -> None:
    prod = _space(client, "acme", "prod")
    dev = _space(client, "other", "dev")
    dora, audrey = _user(client, "dora"), _user(client, "audrey")
    client.put("/v3/organizations/acme/spaces/prod/users/dora/roles/SpaceDeveloper")
    client.put("/v3/organizations/acme/spaces/prod/users/audrey/roles/SpaceAuditor")
    mine = client.post(
        "/v3/apps/push",
        json={
            "application": {"name": "shop", "env": {"TOKEN": "s3cret"}},
            "space_guid": prod["guid"],
        },
        headers=dora,
    )
    assert mine.status_code == 200, mine.text
    theirs = client.post(
        "/v3/apps/push", json={"application": {"name": "bank"}, "space_guid": dev["guid"]}
    ).json()
    denied = client.post(
        "/v3/apps/push",
        json={"application": {"name": "x"}, "space_guid": dev["guid"]},
        headers=dora,
    )
    assert denied.status_code == 404
    assert client.get(f"/v3/apps/{theirs['guid']}", headers=dora).status_code == 404
    listed = client.get("/v3/apps", params={"space_guid": prod["guid"]}, headers=audrey)
    assert [a["name"] for a in listed.json()["resources"]] == ["shop"]
    app = mine.json()["guid"]
    assert client.get(f"/v3/apps/{app}/env", headers=dora).json()["environment_variables"] == {
        "TOKEN": "s3cret"
    }
    hidden = client.get(f"/v3/apps/{app}/env", headers=audrey)
    assert hidden.status_code == 403 and "SpaceDeveloper" in hidden.json()["error"]["message"]
    assert "s3cret" not in client.get(f"/v3/apps/{app}", headers=audrey).text
    ups = client.post(
        "/v3/service_instances",
        json={
            "name": "db",
            "type": "user-provided",
            "credentials": {"password": "hunter2"},
            "space_guid": prod["guid"],
        },
        headers=dora,
    )
    assert ups.status_code == 202, ups.text
    bound = client.post(
        "/v3/service_bindings",
        json={"service_instance": ups.json()["guid"], "app": app},
        headers=dora,
    )
    assert bound.status_code == 201, bound.text
    for who, shown in ((dora, "hunter2"), (audrey, "[redacted]")):
        one = client.get(f"/v3/service_bindings/{bound.json()['guid']}", headers=who)
        assert one.json()["credentials"] == {"password": shown}
        every = client.get("/v3/service_bindings", headers=who).json()["resources"]
        assert [b["credentials"] for b in every] == [{"password": shown}]
    events = client.get("/v3/events", headers=audrey).json()["resources"]
    assert events and {e["space_guid"] for e in events} == {prod["guid"]}
    assert "s3cret" not in str(events) and "hunter2" not in str(events)
    stopped = client.post(f"/v3/apps/{app}/actions/stop", headers=audrey)
    assert stopped.status_code == 403
