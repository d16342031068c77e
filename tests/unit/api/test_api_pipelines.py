"""Pipelines and the promote call: stages are spaces of the org, in order; promoting needs
SpaceDeveloper in the target space as well as in the app's own."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.unit.api.test_api_tasks import staged_app


def login(client: TestClient, name: str) -> dict[str, str]:
    token = client.post(
        "/v3/auth/token", json={"username": name, "password": "correct horse"}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_stages_are_the_orgs_spaces_in_order(client: TestClient) -> None:
    client.post("/v3/spaces", json={"org": "main", "name": "prod"})
    made = client.post(
        "/v3/pipelines", json={"org": "main", "name": "shop", "stages": ["dev", "prod"]}
    )
    assert made.status_code == 201, made.text
    assert [s["space"] for s in made.json()["stages"]] == ["dev", "prod"]
    for stages, message in (
        (["dev", "qa"], "stages[1]: no space qa in org main"),
        (["dev", "dev"], "stages: a space is listed twice"),
        (["dev"], "stages"),
    ):
        refused = client.post(
            "/v3/pipelines", json={"org": "main", "name": "other", "stages": stages}
        )
        assert refused.status_code == 422 and message in refused.text, refused.text
    again = client.post(
        "/v3/pipelines", json={"org": "main", "name": "shop", "stages": ["dev", "prod"]}
    )
    assert again.status_code == 409


def test_promoting_needs_a_developer_of_both_spaces(client: TestClient) -> None:
    guid = staged_app(client, "web")
    client.post("/v3/spaces", json={"org": "main", "name": "prod"})
    client.post("/v3/users", json={"name": "dev", "password": "correct horse"})
    client.put("/v3/organizations/main/spaces/dev/users/dev/roles/SpaceDeveloper")
    as_dev = login(client, "dev")

    refused = client.post(
        f"/v3/apps/{guid}/actions/promote", json={"to_space": "prod"}, headers=as_dev
    )
    assert refused.status_code == 403
    assert "dev may not promote into prod: it needs SpaceDeveloper" in refused.text

    client.put("/v3/organizations/main/spaces/prod/users/dev/roles/SpaceDeveloper")
    accepted = client.post(
        f"/v3/apps/{guid}/actions/promote", json={"to_space": "prod", "test": True}, headers=as_dev
    )
    assert accepted.status_code == 202, accepted.text
    assert (accepted.json()["state"], accepted.json()["to_space"]) == ("PENDING", "prod")
    listed = client.get(f"/v3/apps/{guid}/promotions", headers=as_dev).json()["resources"]
    assert [p["test"] for p in listed] == [True]
