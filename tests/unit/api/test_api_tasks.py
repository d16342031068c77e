"""The tasks API: run one, list them, show one, terminate one; wrong input names its field."""

from __future__ import annotations

from fastapi.testclient import TestClient

from yun.store.models import App, Droplet
from yun.store.releases import create_revision


def staged_app(client: TestClient, name: str) -> str:
    """An app with a droplet and a current revision, as a push leaves it."""
    guid = str(client.post("/v3/apps/push", json={"application": {"name": name}}).json()["guid"])
    store = client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.session() as session:
        app = session.get(App, guid)
        droplet = Droplet(app_guid=guid, build_guid="b", blob="a" * 64, process_types={})
        session.add(droplet)
        session.flush()
        revision = create_revision(
            session,
            app=app,
            droplet_guid=droplet.guid,
            commands={"web": "python app.py"},
            description="first",
            actor="admin",
        )
        app.revision_guid = revision.guid
    return guid


def test_a_task_is_made_listed_shown_and_terminated(client: TestClient, woken: list[str]) -> None:
    guid = staged_app(client, "reports")
    made = client.post(
        f"/v3/apps/{guid}/tasks",
        json={"command": "python report.py", "name": "nightly", "memory_in_mb": 128},
    )
    assert made.status_code == 202, made.text
    task = made.json()
    assert (task["sequence_id"], task["state"], task["memory_in_mb"]) == (1, "PENDING", 128)
    assert task["log_source"] == "TASK/1" and task["created_by"] == "admin"
    assert "tasks" in woken

    listed = client.get(f"/v3/apps/{guid}/tasks").json()["resources"]
    assert [t["name"] for t in listed] == ["nightly"]
    assert client.get(f"/v3/apps/{guid}/tasks/1").json()["command"] == "python report.py"
    missing = client.get(f"/v3/apps/{guid}/tasks/9")
    assert (missing.status_code, missing.json()["error"]["message"]) == (
        404,
        "task 9 of app reports not found",
    )

    stopped = client.post(f"/v3/apps/{guid}/tasks/1/actions/cancel")
    assert stopped.status_code == 202
    assert stopped.json()["result"]["failure_reason"] == "terminated before it started"
    again = client.post(f"/v3/apps/{guid}/tasks/1/actions/cancel")
    assert again.status_code == 409 and "already finished" in again.text


def test_wrong_input_is_one_error_naming_the_field(client: TestClient) -> None:
    guid = staged_app(client, "worker")
    for body, field in (
        ({}, "command"),
        ({"command": ""}, "command"),
        ({"command": "true", "name": "two words"}, "name"),
        ({"command": "true", "memory_in_mb": 0}, "memory_in_mb"),
    ):
        refused = client.post(f"/v3/apps/{guid}/tasks", json=body)
        assert refused.status_code == 422, body
        assert field in refused.json()["error"]["message"], refused.text

    bare = client.post("/v3/apps/push", json={"application": {"name": "bare"}}).json()["guid"]
    refused = client.post(f"/v3/apps/{bare}/tasks", json={"command": "true"})
    assert refused.status_code == 422
    assert "app bare has no droplet to run a task on" in refused.text
