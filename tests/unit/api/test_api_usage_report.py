"""`GET /v3/usage`: usage per org and space since a time; a wrong `since` or an org the
caller cannot see is refused."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.unit.api.test_api_tasks import staged_app

from yun.store.models import App


def test_usage_is_reported_per_org_and_space(client: TestClient) -> None:
    guid = staged_app(client, "web")
    store = client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.session() as session:
        app = session.get(App, guid)
        assert app is not None
        app.state = "STARTED"
    first = client.get("/v3/usage", params={"since": "1h"})
    assert first.status_code == 200, first.text
    (row,) = first.json()["resources"]
    assert (row["org"], row["space"], row["apps"]) == ("main", "dev", 1)
    assert row["instance_hours"] >= 0 and row["service_hours"] == 0

    wrong = client.get("/v3/usage", params={"since": "last week"})
    assert wrong.status_code == 422 and "since" in wrong.json()["error"]["message"]
    hidden = client.get("/v3/usage", params={"org": "nope"})
    assert hidden.status_code == 404 and "org nope not found" in hidden.text
