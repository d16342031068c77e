"""One error shape everywhere: `{"error": {"code", "message", "field"}}`, from Yun's own
refusals, request validation, Starlette's (unknown path, wrong method, a body that is not
JSON), the body limit and quotas alike."""

from __future__ import annotations

from fastapi.testclient import TestClient


def _error(answer: object) -> dict[str, object]:
    body = answer.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field"}
    return dict(body["error"])


def test_every_kind_of_refusal_has_the_same_shape(client: TestClient) -> None:
    missing = _error(client.get("/v3/apps/nope"))
    assert missing == {"code": "not_found", "message": "app nope not found", "field": None}
    invalid = _error(client.post("/v3/users", json={"name": "bad name!", "password": "x" * 9}))
    assert invalid["code"] == "invalid" and invalid["field"] == "name"
    assert str(invalid["message"]).startswith("name: ")
    since = _error(client.get("/v3/events", params={"since": "yesterday"}))
    assert (since["code"], since["field"]) == ("invalid", "since")
    unknown = _error(client.get("/v3/nothing-here"))
    assert unknown["code"] == "not_found"
    method = _error(client.put("/v3/apps"))
    assert method["code"] == "method_not_allowed"
    not_json = _error(
        client.post("/v3/users", content=b"{", headers={"Content-Type": "application/json"})
    )
    assert not_json["code"] in ("bad_request", "invalid")
    client.headers.pop("Authorization")
    anonymous = _error(client.get("/v3/apps"))
    assert anonymous["code"] == "unauthorized"


def test_a_quota_refusal_says_quota_exceeded(client: TestClient) -> None:
    client.post("/v3/quotas", json={"name": "none", "routes": 0})
    client.put("/v3/organizations/main/spaces/dev/quota", json={"quota": "none"})
    refused = client.post("/v3/routes", json={"domain": "apps.localhost", "host": "x"})
    assert refused.status_code == 422
    assert _error(refused)["code"] == "quota_exceeded"
