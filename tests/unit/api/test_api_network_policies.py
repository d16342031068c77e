"""Network policies through the API: added (once, however often asked), listed by the source's
space, removed; wrong input is one 422 naming the field; a developer needs the destination's
space too; the route controller is woken so the bridge's firewall follows."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from tests.unit.api.test_api_roles import _user


def _app(client: TestClient, name: str, space_guid: str = "", **headers: str) -> dict[str, Any]:
    body: dict[str, Any] = {"application": {"name": name}}
    if space_guid:
        body["space_guid"] = space_guid
    made = client.post("/v3/apps/push", json=body, headers=headers or None)
    assert made.status_code == 200, made.text
    return dict(made.json())


def test_a_policy_is_added_once_listed_and_removed(client: TestClient, woken: list[str]) -> None:
    front, back = _app(client, "front"), _app(client, "back")
    body = {"source": front["guid"], "destination": back["guid"], "ports": "8080-8090"}
    made = client.post("/v3/network_policies", json=body)
    assert made.status_code == 201, made.text
    policy = made.json()
    assert policy["source"]["name"] == "front" and policy["destination"]["name"] == "back"
    assert (policy["protocol"], policy["ports"]) == ("tcp", "8080-8090")
    assert "routes" in woken
    again = client.post("/v3/network_policies", json=body).json()
    assert again["guid"] == policy["guid"]
    udp = client.post("/v3/network_policies", json={**body, "protocol": "udp", "ports": "53"})
    assert udp.json()["ports"] == "53"

    listed = client.get("/v3/network_policies").json()["resources"]
    assert [(p["protocol"], p["ports"]) for p in listed] == [("tcp", "8080-8090"), ("udp", "53")]
    only_back = client.get("/v3/network_policies", params={"source_app_guid": back["guid"]})
    assert only_back.json()["resources"] == []

    assert client.delete(f"/v3/network_policies/{policy['guid']}").status_code == 200
    assert client.delete(f"/v3/network_policies/{policy['guid']}").status_code == 404
    assert len(client.get("/v3/network_policies").json()["resources"]) == 1
    kinds = [e["type"] for e in client.get(f"/v3/apps/{front['guid']}/events").json()["resources"]]
    assert "audit.network_policy.create" in kinds and "audit.network_policy.delete" in kinds
    # Deleting an app takes its policies with it.
    assert client.delete(f"/v3/apps/{back['guid']}").status_code in (200, 202)
    assert client.get("/v3/network_policies").json()["resources"] == []


def test_wrong_input_names_the_field(client: TestClient) -> None:
    front, back = _app(client, "front"), _app(client, "back")
    ends = {"source": front["guid"], "destination": back["guid"]}
    for body, field in (
        ({**ends, "protocol": "icmp"}, "protocol"),
        ({**ends, "ports": "http"}, "ports"),
        ({**ends, "ports": "0"}, "ports"),
        ({**ends, "ports": "70000"}, "ports"),
        ({**ends, "ports": "9000-8000"}, "ports"),
        ({**ends, "ports": "1-2-3"}, "ports"),
        ({"destination": back["guid"]}, "source"),
    ):
        refused = client.post("/v3/network_policies", json=body)
        assert refused.status_code == 422, body
        assert field in refused.json()["error"]["message"], refused.text
    nowhere = client.post("/v3/network_policies", json={**ends, "destination": "no-such-app"})
    assert nowhere.status_code == 404
    assert client.get("/v3/network_policies").json()["resources"] == []


def test_a_developer_needs_the_destination_space_too(client: TestClient) -> None:
    for space in ("prod", "billing"):
        client.post("/v3/organizations", json={"name": "acme"})
        assert client.post("/v3/spaces", json={"org": "acme", "name": space}).status_code == 201
    spaces = {s["name"]: s["guid"] for s in client.get("/v3/spaces").json()["resources"]}
    dora = _user(client, "dora")
    client.put("/v3/organizations/acme/spaces/prod/users/dora/roles/SpaceDeveloper")
    front = _app(client, "front", spaces["prod"])
    bank = _app(client, "bank", spaces["billing"])
    body = {"source": front["guid"], "destination": bank["guid"]}
    unseen = client.post("/v3/network_policies", json=body, headers=dora)
    assert unseen.status_code == 404  # she cannot see billing's apps at all
    client.put("/v3/organizations/acme/spaces/billing/users/dora/roles/SpaceAuditor")
    seen = client.post("/v3/network_policies", json=body, headers=dora)
    assert seen.status_code == 403 and "destination" in seen.json()["error"]["message"]
    client.put("/v3/organizations/acme/spaces/billing/users/dora/roles/SpaceDeveloper")
    assert client.post("/v3/network_policies", json=body, headers=dora).status_code == 201
    mine = client.get("/v3/network_policies", params={"space_guid": spaces["prod"]}, headers=dora)
    assert [p["destination"]["space"] for p in mine.json()["resources"]] == ["billing"]
