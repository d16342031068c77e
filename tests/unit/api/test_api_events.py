"""The audit trail through the API: every write is an event with actor, outcome, client
address and request id (the client's own id kept), failed and refused ones too; `GET
/v3/events` filters by actor, space, type and time (admins only); old events are pruned."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from yun.store import events
from yun.store.models import Event


def _store(client: TestClient) -> Any:
    return client.app.state.ctx.store  # type: ignore[attr-defined]


def _requests(client: TestClient) -> list[dict[str, Any]]:
    found = client.get("/v3/events", params={"type": "audit.request"}).json()["resources"]
    return list(found)


def test_every_write_is_an_event_with_its_request_id_and_outcome(client: TestClient) -> None:
    pushed = client.post("/v3/apps/push", json={"application": {"name": "shop"}})
    request_id = pushed.headers["X-Request-Id"]
    (made,) = [e for e in _requests(client) if e["request_id"] == request_id]
    assert (made["actor"], made["outcome"], made["address"]) == ("admin", "success", "testclient")
    assert made["data"] == {"method": "POST", "path": "/v3/apps/push", "status": 200}
    audit = client.get("/v3/events", params={"type": "audit.app"}).json()["resources"]
    assert any(e["request_id"] == request_id for e in audit)  # the app's own event: same id

    mine = client.post(
        "/v3/apps/push",
        json={"application": {"name": "x", "memory": "lots"}},
        headers={"X-Request-Id": "ci-run-42"},
    )
    assert mine.status_code == 422 and mine.headers["X-Request-Id"] == "ci-run-42"
    (failed,) = [e for e in _requests(client) if e["request_id"] == "ci-run-42"]
    assert failed["outcome"] == "failure" and failed["data"]["status"] == 422

    odd = client.post("/v3/organizations", json={"name": "x"}, headers={"X-Request-Id": "a b"})
    assert odd.headers["X-Request-Id"] != "a b"  # not a sane id: a new one instead
    client.headers.pop("Authorization")
    anonymous = client.delete("/v3/apps/whatever")
    assert anonymous.status_code == 401
    client.headers["Authorization"] = (
        "Bearer "
        + client.post("/v3/auth/token", json={"username": "admin", "password": "pw"}).json()[
            "access_token"
        ]
    )
    (denied,) = [
        e for e in _requests(client) if e["request_id"] == anonymous.headers["X-Request-Id"]
    ]
    assert (denied["actor"], denied["outcome"]) == ("", "denied")
    assert client.get("/v3/apps").headers["X-Request-Id"]  # reads get an id, not an event


def test_events_filter_by_actor_type_space_and_time(client: TestClient) -> None:
    client.post("/v3/auth/token", json={"username": "admin", "password": "wrong"})
    client.post("/v3/apps/push", json={"application": {"name": "shop"}})
    space = client.app.state.ctx.defaults.space_guid  # type: ignore[attr-defined]
    logins = client.get("/v3/events", params={"type": "audit.login"}).json()["resources"]
    assert {e["type"] for e in logins} >= {"audit.login.failure", "audit.login.success"}
    assert all(e["type"].startswith("audit.login.") for e in logins)
    by_actor = client.get("/v3/events", params={"actor": "nobody"}).json()["resources"]
    assert by_actor == []
    in_space = client.get("/v3/events", params={"space_guid": space}).json()["resources"]
    assert in_space and all(e["space_guid"] == space for e in in_space)
    recent = client.get("/v3/events", params={"since": "5m"}).json()["resources"]
    later = client.get("/v3/events", params={"since": "2999-01-01T00:00"}).json()["resources"]
    assert recent and later == []
    wrong = client.get("/v3/events", params={"since": "yesterday"})
    assert wrong.status_code == 422 and wrong.json()["error"]["message"].startswith("since:")
    assert client.get("/v3/events", params={"limit": 0}).status_code == 422


def test_a_user_without_roles_sees_none_of_the_platforms_events(client: TestClient) -> None:
    client.post("/v3/users", json={"name": "alice", "password": "correct horse"})
    token = client.post(
        "/v3/auth/token", json={"username": "alice", "password": "correct horse"}
    ).json()["access_token"]
    assert client.get("/v3/events").json()["resources"]  # the admin sees alice's creation
    seen = client.get("/v3/events", headers={"Authorization": f"Bearer {token}"})
    assert seen.status_code == 200 and seen.json()["resources"] == []


def test_old_events_and_those_beyond_the_count_are_pruned(client: TestClient) -> None:
    store = _store(client)
    now = time.time()
    with store.session() as session:
        for age in (100, 50, 3, 2, 1):
            session.add(Event(type="test.old", created_at=now - age * 86400, updated_at=now))
        for i in range(5):
            session.add(Event(type="test.new", created_at=now - i, updated_at=now))
    with store.session() as session:
        before = len(list(session.scalars(select(Event))))
        gone = events.prune(session, max_age=90 * 86400, max_count=6, now=now)
    with store.session() as session:
        kept = list(session.scalars(select(Event).order_by(Event.created_at.desc())))
    assert len(kept) == 6 and gone == before - 6
    assert [e.type for e in kept].count("test.new") == 5  # the newest stay
    assert all(e.created_at > now - 90 * 86400 for e in kept)
