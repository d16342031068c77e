"""`/v3/apps/{guid}/autoscale`: a policy is set, shown, refused when it makes no sense, removed."""

from __future__ import annotations

from fastapi.testclient import TestClient


def _app(client: TestClient) -> str:
    return str(client.post("/v3/apps/push", json={"application": {"name": "sized"}}).json()["guid"])


def test_a_policy_is_stored_shown_and_removed(client: TestClient, woken: list[str]) -> None:
    guid = _app(client)
    assert client.get(f"/v3/apps/{guid}/autoscale").json()["policy"] is None
    woken.clear()
    policy = {"min": 2, "max": 8, "metric": "rps", "target": 50}
    reply = client.put(f"/v3/apps/{guid}/autoscale", json=policy)
    assert reply.status_code == 200
    assert reply.json()["policy"] == {**policy, "target": 50.0, "idle": 60.0}
    assert reply.json()["source"] == "yun"
    assert "autoscale" in woken
    client.post("/v3/apps/push", json={"application": {"name": "sized", "instances": 3}})
    assert client.get(f"/v3/apps/{guid}/autoscale").json()["policy"]["max"] == 8  # push keeps it
    assert client.delete(f"/v3/apps/{guid}/autoscale").json()["policy"] is None
    assert client.delete(f"/v3/apps/{guid}/autoscale").status_code == 409


def test_a_stackato_block_shows_as_the_manifests(client: TestClient) -> None:
    application = {
        "name": "stk",
        "stackato": {"autoscale": {"enabled": True, "instances": {"min": 2, "max": 4}}},
    }
    guid = client.post("/v3/apps/push", json={"application": application}).json()["guid"]
    shown = client.get(f"/v3/apps/{guid}/autoscale").json()
    assert shown["source"] == "manifest"
    assert shown["policy"]["instances"] == {"min": 2, "max": 4}


def test_nonsense_is_422_naming_the_field(client: TestClient) -> None:
    guid = _app(client)
    cases = [
        ({"min": 0, "max": 3, "metric": "rps", "target": 5, "idle": 0}, "idle"),
        ({"min": 4, "max": 3, "metric": "rps", "target": 5}, "max"),
        ({"min": 1, "max": 3, "metric": "memory", "target": 5}, "metric"),
        ({"min": 1, "max": 3, "metric": "cpu", "target": -1}, "target"),
    ]
    for body, named in cases:
        reply = client.put(f"/v3/apps/{guid}/autoscale", json=body)
        assert reply.status_code == 422, body
        assert named in reply.json()["error"]["message"], reply.json()
    assert client.get(f"/v3/apps/{guid}/autoscale").json()["policy"] is None
