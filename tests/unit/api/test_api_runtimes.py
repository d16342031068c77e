"""Runtimes per space and app: `yun set-space-runtime`, a manifest's `runtime:`, what `yun app`
shows, and what each revision pins (so a restart rolls a change out and a rollback keeps it)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.unit.api.test_api_tasks import staged_app

from yun.store.models import App, Event, Revision
from yun.store.releases import pinned_runtime

SPACE = "/v3/organizations/main/spaces/dev"


def _ctx(client: TestClient) -> Any:
    return client.app.state.ctx  # type: ignore[attr-defined]


def _gvisor_runs(client: TestClient) -> None:
    _ctx(client).runtimes = {"runc": None, "gvisor": None}


def _newest_runtime(client: TestClient, guid: str) -> str:
    """What the app's newest revision pins: the one a restart made (and a deployment of a
    started app rolls out)."""
    with _ctx(client).store.session() as session:
        query = select(Revision).where(Revision.app_guid == guid)
        newest = session.scalars(query.order_by(Revision.version.desc())).first()
        return pinned_runtime(newest)


def _start(client: TestClient, guid: str) -> None:
    with _ctx(client).store.session() as session:
        session.get(App, guid).state = "STARTED"


def test_gvisor_is_refused_where_the_platform_cannot_run_it(client: TestClient) -> None:
    answer = client.put(f"{SPACE}/runtime", json={"runtime": "gvisor"})
    assert answer.status_code == 422
    assert answer.json()["error"]["message"] == (
        "runtime: gvisor cannot run on this platform: this platform has no runsc"
    )
    unknown = client.put(f"{SPACE}/runtime", json={"runtime": "kata"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["message"] == (
        "runtime: 'kata' is not a runtime; use runc or gvisor"
    )
    assert client.get(SPACE).json()["runtime"] == "runc"  # nothing half-applied

    pushed = client.post(
        "/v3/apps/push", json={"application": {"name": "shop", "runtime": "gvisor"}}
    )
    assert pushed.status_code == 422
    assert "shop: runtime: gvisor cannot run on this platform" in pushed.json()["error"]["message"]
    assert client.get("/v3/apps", params={"name": "shop"}).json()["resources"] == []


def test_a_space_runtime_reaches_its_apps_at_their_next_restart(client: TestClient) -> None:
    _gvisor_runs(client)
    guid = staged_app(client, "shop")
    _start(client, guid)
    answer = client.put(f"{SPACE}/runtime", json={"runtime": "gvisor"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["apps_to_restart"] == ["shop"]
    assert client.get(SPACE).json()["runtime"] == "gvisor"
    assert [s["runtime"] for s in client.get("/v3/spaces").json()["resources"]] == ["gvisor"]
    shown = client.get(f"/v3/apps/{guid}").json()
    assert (shown["runtime"], shown["runtime_next"]) == ("runc", "gvisor")
    with _ctx(client).store.session() as session:
        event = session.query(Event).filter(Event.type == "audit.space.runtime").one()
        assert (event.data["from"], event.data["to"]) == ("runc", "gvisor")

    restarted = client.post(f"/v3/apps/{guid}/actions/restart")
    assert restarted.status_code == 200
    assert restarted.json()["deployment"] is not None  # rolled out, not all at once
    assert _newest_runtime(client, guid) == "gvisor"
    assert client.put(f"{SPACE}/runtime", json={"runtime": "gvisor"}).status_code == 200
    with _ctx(client).store.session() as session:  # setting it again changes nothing
        assert session.query(Event).filter(Event.type == "audit.space.runtime").count() == 1


def test_an_app_asks_for_gvisor_but_cannot_leave_its_spaces(client: TestClient) -> None:
    _gvisor_runs(client)
    sandboxed = staged_app(client, "untrusted")
    pushed = client.post(
        "/v3/apps/push", json={"application": {"name": "untrusted", "runtime": "gvisor"}}
    )
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["runtime_next"] == "gvisor"
    assert client.post(f"/v3/apps/{sandboxed}/actions/restart").status_code == 200
    assert _newest_runtime(client, sandboxed) == "gvisor"

    assert client.put(f"{SPACE}/runtime", json={"runtime": "gvisor"}).status_code == 200
    plain = client.post(
        "/v3/apps/push", json={"application": {"name": "plain", "runtime": "runc"}}
    ).json()
    assert plain["runtime_next"] == "gvisor"  # the space's choice holds

    wrong = client.post("/v3/apps/push", json={"application": {"name": "x", "runtime": "vm"}})
    assert wrong.status_code == 422
    assert "runtime" in wrong.json()["error"]["message"]


def test_a_rollback_keeps_the_runtime_the_space_asks_for_now(client: TestClient) -> None:
    _gvisor_runs(client)
    guid = staged_app(client, "shop")
    assert client.post(f"/v3/apps/{guid}/actions/restart").status_code == 200
    assert client.put(f"{SPACE}/runtime", json={"runtime": "gvisor"}).status_code == 200
    assert client.post(f"/v3/apps/{guid}/actions/restart").status_code == 200
    assert _newest_runtime(client, guid) == "gvisor"
    rolled = client.post(f"/v3/apps/{guid}/actions/rollback", json={"version": 1})
    assert rolled.status_code == 200, rolled.text
    assert _newest_runtime(client, guid) == "gvisor"  # revision 1 ran under runc
