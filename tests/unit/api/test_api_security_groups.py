"""Application security groups through the API: the two running defaults exist from the start;
admins make, change, bind and delete groups; wrong rules are one 422 naming the rule and
field; developers read them but may not change them; every change wakes the controller."""

from __future__ import annotations

from fastapi.testclient import TestClient

DB = [{"protocol": "tcp", "destination": "10.0.11.0/24", "ports": "5432,6432"}]


def test_the_running_defaults_are_public_networks_and_dns(client: TestClient) -> None:
    groups = {g["name"]: g for g in client.get("/v3/security_groups").json()["resources"]}
    assert set(groups) == {"public_networks", "dns"}
    assert all(g["running_default"] for g in groups.values())
    destinations = [r["destination"] for r in groups["public_networks"]["rules"]]
    assert "0.0.0.0-9.255.255.255" in destinations and len(destinations) == 5


def test_a_group_is_made_bound_changed_and_deleted(client: TestClient, woken: list[str]) -> None:
    made = client.post("/v3/security_groups", json={"name": "billing-db", "rules": DB})
    assert made.status_code == 201, made.text
    assert "routes" in woken
    assert (
        client.post("/v3/security_groups", json={"name": "billing-db", "rules": []}).status_code
        == 409
    )
    client.post("/v3/organizations", json={"name": "acme"})
    client.post("/v3/spaces", json={"org": "acme", "name": "prod"})
    bound = client.put("/v3/security_groups/billing-db/organizations/acme/spaces/prod")
    assert bound.status_code == 200 and bound.json()["spaces"][0]["space"] == "prod"
    again = client.put("/v3/security_groups/billing-db/organizations/acme/spaces/prod")
    assert len(again.json()["spaces"]) == 1
    nowhere = client.put("/v3/security_groups/billing-db/organizations/acme/spaces/qa")
    assert nowhere.status_code == 404 and "qa" in nowhere.json()["error"]["message"]

    rules = [*DB, {"protocol": "icmp", "destination": "10.0.11.1", "type": 8, "code": 0}]
    changed = client.put("/v3/security_groups/billing-db", json={"rules": rules})
    assert changed.status_code == 200 and len(changed.json()["rules"]) == 2
    running = client.put("/v3/security_groups/billing-db/running_default")
    assert running.json()["running_default"] is True
    assert (
        client.delete("/v3/security_groups/billing-db/running_default").json()["running_default"]
        is False
    )
    unbound = client.delete("/v3/security_groups/billing-db/organizations/acme/spaces/prod")
    assert unbound.status_code == 200 and unbound.json()["spaces"] == []
    assert client.delete("/v3/security_groups/billing-db").status_code == 200
    assert client.get("/v3/security_groups/billing-db").status_code == 404
    kinds = {e["type"] for e in client.get("/v3/events").json()["resources"]}
    assert {"audit.security_group.create", "audit.security_group.bind"} <= kinds


def test_wrong_rules_name_the_rule_and_field(client: TestClient) -> None:
    for rules, field in (
        ("all", "rules"),
        ([{"protocol": "sctp", "destination": "10.0.0.1"}], "rules[0].protocol"),
        ([{"protocol": "all"}], "rules[0].destination"),
        ([{"protocol": "all", "destination": "10.0.0.300"}], "rules[0].destination"),
        ([{"protocol": "all", "destination": "10.0.0.9-10.0.0.1"}], "rules[0].destination"),
        ([{"protocol": "tcp", "destination": "10.0.0.1"}], "rules[0].ports"),
        ([*DB, {"protocol": "tcp", "destination": "10.0.0.1", "ports": "99999"}], "rules[1].ports"),
        ([{"protocol": "all", "destination": "10.0.0.1", "ports": "80"}], "rules[0].ports"),
        ([{"protocol": "icmp", "destination": "10.0.0.1", "type": "echo"}], "rules[0].type"),
        ([{"protocol": "all", "destination": "10.0.0.1", "port": "80"}], "rules[0].port"),
    ):
        refused = client.post("/v3/security_groups", json={"name": "bad", "rules": rules})
        assert refused.status_code == 422, rules
        assert field in refused.json()["error"]["message"], refused.text
    wrong_name = client.post("/v3/security_groups", json={"name": "a b", "rules": []})
    assert wrong_name.status_code == 422 and "name" in wrong_name.json()["error"]["message"]
    assert client.get("/v3/security_groups/bad").status_code == 404


def test_developers_read_groups_but_do_not_change_them(client: TestClient) -> None:
    client.post("/v3/users", json={"name": "dora", "password": "correct horse"})
    token = client.post(
        "/v3/auth/token", json={"username": "dora", "password": "correct horse"}
    ).json()["access_token"]
    dora = {"Authorization": f"Bearer {token}"}
    assert client.get("/v3/security_groups", headers=dora).status_code == 200
    refused = client.post("/v3/security_groups", json={"name": "mine", "rules": DB}, headers=dora)
    assert refused.status_code == 403
    assert client.delete("/v3/security_groups/dns", headers=dora).status_code == 403
