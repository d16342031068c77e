"""The webhooks API: made with a secret shown once, listed without it, deleted; a wrong URL or
kind is one 422 naming the field."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_a_webhook_is_made_listed_and_deleted(client: TestClient) -> None:
    made = client.post(
        "/v3/webhooks", json={"url": "https://ci.example.com/hooks", "kinds": ["crash", "deploy"]}
    )
    assert made.status_code == 201, made.text
    hook = made.json()
    assert hook["kinds"] == ["deploy", "crash"] and len(hook["secret"]) >= 32
    chosen = client.post(
        "/v3/webhooks", json={"url": "http://127.0.0.1:9/x", "secret": "my-own-secret"}
    ).json()
    assert chosen["secret"] == "my-own-secret"
    assert chosen["kinds"] == ["deploy", "crash", "scale", "task"]

    listed = client.get("/v3/webhooks").json()["resources"]
    assert [h["url"] for h in listed] == ["https://ci.example.com/hooks", "http://127.0.0.1:9/x"]
    assert all("secret" not in h for h in listed)
    assert client.get(f"/v3/webhooks/{hook['guid']}/deliveries").json() == {"resources": []}
    assert client.delete(f"/v3/webhooks/{hook['guid']}").status_code == 200
    assert client.delete(f"/v3/webhooks/{hook['guid']}").status_code == 404
    kinds = {e["type"] for e in client.get("/v3/events").json()["resources"]}
    assert {"audit.webhook.create", "audit.webhook.delete"} <= kinds


def test_wrong_input_names_the_field(client: TestClient) -> None:
    for body, field in (
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://example.com", "kinds": ["deploys"]}, "kinds"),
        ({"url": "https://example.com", "kinds": []}, "kinds"),
        ({}, "url"),
    ):
        refused = client.post("/v3/webhooks", json=body)
        assert refused.status_code == 422, body
        assert field in refused.json()["error"]["message"], refused.text
