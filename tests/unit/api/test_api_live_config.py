"""Live configuration through the API: each change a version; an app's values over its
space's; history with who and which keys, secret values masked; rollback as a new version;
wrong keys and empty changes named; auditors see history but not values; the config
controller is woken."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from tests.unit.api.test_api_roles import _user


def _app(client: TestClient, name: str = "shop") -> dict[str, Any]:
    made = client.post("/v3/apps/push", json={"application": {"name": name}})
    assert made.status_code == 200, made.text
    return dict(made.json())


def _space_path(client: TestClient) -> str:
    (space,) = [s for s in client.get("/v3/spaces").json()["resources"]]
    return f"/v3/organizations/{space['org']}/spaces/{space['name']}/config"


def test_versions_overlay_history_and_rollback(client: TestClient, woken: list[str]) -> None:
    app = _app(client)
    base = f"/v3/apps/{app['guid']}/config"
    assert client.get(base).json()["version"] == "s0.a0"
    first = client.patch(
        base, json={"values": {"COLOR": "blue", "TOKEN": "t1"}, "secret": ["TOKEN"]}
    )
    assert first.status_code == 200, first.text
    assert (first.json()["version"], first.json()["changed"]) == (1, True)
    assert "config" in woken
    same = client.patch(base, json={"values": {"COLOR": "blue"}}).json()
    assert (same["version"], same["changed"]) == (1, False)  # nothing new: no version
    client.patch(base, json={"values": {"COLOR": "green"}})
    space = _space_path(client)
    client.patch(space, json={"values": {"LOG_LEVEL": "debug", "COLOR": "red"}})

    shown = client.get(base).json()
    assert shown["version"] == "s1.a2"
    assert shown["values"] == {"COLOR": "green", "TOKEN": "t1", "LOG_LEVEL": "debug"}
    assert shown["app"]["secret_keys"] == ["TOKEN"]

    history = client.get(f"{base}/history").json()["resources"]
    assert [(h["version"], h["action"], h["keys"]) for h in history] == [
        (1, "set", ["COLOR", "TOKEN"]),
        (2, "set", ["COLOR"]),
    ]
    assert history[0]["values"] == {"COLOR": "blue", "TOKEN": "[redacted]"}
    assert history[0]["created_by"] == "admin"

    back = client.post(f"{base}/rollback", json={"version": 1})
    assert back.status_code == 200 and back.json()["version"] == 3
    assert client.get(base).json()["values"]["COLOR"] == "blue"
    last = client.get(f"{base}/history").json()["resources"][-1]
    assert (last["action"], last["from_version"], last["keys"]) == ("rollback", 1, ["COLOR"])
    assert client.post(f"{base}/rollback", json={"version": 9}).status_code == 404
    removed = client.patch(base, json={"unset": ["TOKEN"]}).json()
    assert removed["values"] == {"COLOR": "blue"} and removed["secret_keys"] == []
    kinds = [e["type"] for e in client.get(f"/v3/apps/{app['guid']}/events").json()["resources"]]
    assert {"audit.config.set", "audit.config.rollback", "audit.config.unset"} <= set(kinds)
    assert "t1" not in str(client.get(f"/v3/apps/{app['guid']}/events").json())


def test_wrong_changes_are_named(client: TestClient) -> None:
    base = f"/v3/apps/{_app(client)['guid']}/config"
    for body, field in (
        ({"values": {"1ST": "x"}}, "key"),
        ({"values": {"A-B": "x"}}, "key"),
        ({"values": {"A": "x" * (64 * 1024 + 1)}}, "values.A"),
        ({"values": {"A": "x"}, "secret": ["B"]}, "secret"),
        ({}, "values"),
        ({"values": {"A": 1}}, "values"),
    ):
        refused = client.patch(base, json=body)
        assert refused.status_code == 422, body
        assert field in refused.json()["error"]["message"], refused.text
    assert client.get(f"{base}/history").json()["resources"] == []


def test_auditors_see_history_but_not_values(client: TestClient) -> None:
    app = _app(client)
    base = f"/v3/apps/{app['guid']}/config"
    client.patch(base, json={"values": {"COLOR": "blue"}})
    audrey = _user(client, "audrey")
    space = client.get("/v3/spaces").json()["resources"][0]
    role = (
        f"/v3/organizations/{space['org']}/spaces/{space['name']}/users/audrey/roles/SpaceAuditor"
    )
    assert client.put(role).status_code == 200
    assert client.get(f"{base}/history", headers=audrey).status_code == 200
    assert client.get(base, headers=audrey).status_code == 403
    assert client.patch(base, json={"values": {"X": "1"}}, headers=audrey).status_code == 403
