"""Quotas through the API: each limit (memory, instance memory, instances, routes, managed
service instances, TCP ports) refuses the push, scale, start, route, service or TCP route
that would pass it, with an error naming the quota, the limit and what the change needs;
nothing of a refused change stays; what only shrinks, or stays within, goes through."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from yun.store.models import App, ServiceBroker, ServiceOffering, ServicePlan
from yun.store.session import Store


def _store(client: TestClient) -> Store:
    store: Store = client.app.state.ctx.store  # type: ignore[attr-defined]
    return store


def _space(client: TestClient, quota: dict[str, Any], *, on: str = "space") -> str:
    """Space prod of org acme, with a quota `small` of `quota` on the space or the org."""
    client.post("/v3/organizations", json={"name": "acme"})
    space = client.post("/v3/spaces", json={"org": "acme", "name": "prod"}).json()
    made = client.post("/v3/quotas", json={"name": "small", **quota})
    assert made.status_code == 201, made.text
    path = "/v3/organizations/acme" + ("/spaces/prod" if on == "space" else "")
    assert client.put(f"{path}/quota", json={"quota": "small"}).status_code == 200
    return str(space["guid"])


def _push(client: TestClient, space: str, name: str, start: bool = True, **app: Any) -> Any:
    body = {"application": {"name": name, **app}, "space_guid": space, "start": start}
    return client.post("/v3/apps/push", json=body)


def _started(client: TestClient, name: str) -> str:
    """Mark app `name` started, as staging would."""
    with _store(client).session() as session:
        app = session.scalar(select(App).where(App.name == name))
        assert app is not None
        app.state = "STARTED"
        return app.guid


def _error(answer: Any) -> str:
    assert answer.status_code == 422, answer.text
    return str(answer.json()["error"]["message"])


def test_memory_counts_the_started_instances_of_the_space(client: TestClient) -> None:
    space = _space(client, {"memory_mb": 1024})
    assert _push(client, space, "a", memory="512M", instances=2).status_code == 200
    _started(client, "a")
    refused = _error(_push(client, space, "b", memory="256M"))
    assert refused == (
        "quota small of space prod allows 1G memory; this needs 1280M (1G in use, 256M more)"
    )
    assert client.get("/v3/apps", params={"space_guid": space, "name": "b"}).json() == {
        "resources": []
    }  # nothing of it stays
    assert _push(client, space, "b", start=False, memory="256M").status_code == 200  # not run
    b = client.get("/v3/apps", params={"space_guid": space, "name": "b"}).json()["resources"][0]
    build = client.post(
        f"/v3/apps/{b['guid']}/packages", json={"type": "docker", "data": {"image": "x/y:1"}}
    ).json()
    staged = client.post("/v3/builds", json={"package_guid": build["guid"], "start": True})
    assert "quota small" in _error(staged)  # a build that would start it is refused too
    a = _started(client, "a")
    assert client.patch(f"/v3/apps/{a}/processes/web", json={"instances": 1}).status_code == 200
    assert client.post("/v3/builds", json={"package_guid": build["guid"]}).status_code == 200


def test_instance_memory_and_instances_limit_push_scale_and_start(client: TestClient) -> None:
    space = _space(client, {"instance_memory_mb": 512, "instances": 3}, on="org")
    big = _error(_push(client, space, "big", memory="1G"))
    assert big == "quota small of org acme allows 512M of memory per instance; this needs 1G"
    assert _push(client, space, "a", instances=2).status_code == 200
    a = _started(client, "a")
    wider = _error(client.patch(f"/v3/apps/{a}/processes/web", json={"memory_mb": 768}))
    assert "512M of memory per instance" in wider
    more = _error(client.patch(f"/v3/apps/{a}/processes/web", json={"instances": 4}))
    assert more == "quota small of org acme allows 3 instances; this needs 4 (2 in use, 2 more)"
    assert _push(client, space, "b", start=False, instances=2).status_code == 200
    with _store(client).session() as session:
        b = session.scalar(select(App).where(App.name == "b"))
        assert b is not None
        b.droplet_guid = "staged"  # as if staged, so that start is only the quota's to refuse
        b_guid = b.guid
    started = _error(client.post(f"/v3/apps/{b_guid}/actions/start"))
    assert "allows 3 instances; this needs 4" in started
    client.post(f"/v3/apps/{a}/actions/stop")
    assert client.get(f"/v3/apps/{b_guid}").json()["state"] == "STOPPED"


def test_routes_services_and_tcp_ports_are_counted(client: TestClient) -> None:
    space = _space(client, {"routes": 1, "services": 1, "tcp_ports": 1})
    first = client.post(
        "/v3/routes", json={"domain": "apps.localhost", "host": "one", "space_guid": space}
    )
    assert first.status_code == 201
    second = client.post(
        "/v3/routes", json={"domain": "apps.localhost", "host": "two", "space_guid": space}
    )
    assert (
        _error(second)
        == "quota small of space prod allows 1 routes; this needs 2 (1 in use, 1 more)"
    )
    routed = _push(client, space, "web", routes=[{"route": "web.apps.localhost"}])
    assert "allows 1 routes" in _error(routed)

    with _store(client).session() as session:
        broker = ServiceBroker(name="b", url="http://127.0.0.1:9")
        session.add(broker)
        session.flush()
        offering = ServiceOffering(broker_guid=broker.guid, broker_id="o", name="db")
        session.add(offering)
        session.flush()
        session.add(ServicePlan(offering_guid=offering.guid, broker_id="p", name="small"))

    def service(name: str) -> Any:
        body = {"name": name, "offering": "db", "plan": "small", "space_guid": space}
        return client.post("/v3/service_instances", json=body)

    ups = {"name": "ext", "type": "user-provided", "space_guid": space}
    assert client.post("/v3/service_instances", json=ups).status_code in (201, 202)  # free
    assert service("one").status_code == 202
    assert "allows 1 service instances; this needs 2" in _error(service("two"))

    echo_pushed = _push(client, space, "echo", **{"no-route": True})
    assert echo_pushed.status_code == 200, echo_pushed.text
    echo = client.get("/v3/apps", params={"space_guid": space, "name": "echo"}).json()
    guid = echo["resources"][0]["guid"]
    assert client.post("/v3/tcp_routes", json={"app": guid}).status_code == 201
    extra = client.post("/v3/tcp_routes", json={"app": guid, "name": "admin"})
    assert "allows 1 TCP ports; this needs 2" in _error(extra)


def test_quotas_are_listed_shown_changed_and_kept_while_held(client: TestClient) -> None:
    space = _space(client, {"memory_mb": 2048, "routes": 5})
    listed = client.get("/v3/quotas").json()["resources"]
    assert [(q["name"], q["memory_mb"], q["routes"], q["instances"]) for q in listed] == [
        ("small", 2048, 5, None)
    ]
    changed = client.patch("/v3/quotas/small", json={"routes": -1, "instances": 10}).json()
    assert (changed["memory_mb"], changed["routes"], changed["instances"]) == (2048, None, 10)
    _push(client, space, "a", memory="512M")
    _started(client, "a")
    shown = client.get("/v3/organizations/acme/spaces/prod").json()["quotas"]
    assert [(q["where"], q["name"], q["used"]["memory_mb"]) for q in shown] == [
        ("space prod", "small", 512)
    ]
    held = client.delete("/v3/quotas/small")
    assert held.status_code == 409 and "space prod" in held.json()["error"]["message"]
    client.put("/v3/organizations/acme/spaces/prod/quota", json={"quota": None})
    assert client.delete("/v3/quotas/small").status_code == 200
    org = client.get("/v3/organizations/acme").json()
    assert org["quota"] is None and org["used"]["memory_mb"] == 512
    wrong = client.post("/v3/quotas", json={"name": "x", "memory_mb": -5})
    assert wrong.status_code == 422 and wrong.json()["error"]["message"].startswith("memory_mb")
    missing = client.put("/v3/organizations/acme/quota", json={"quota": "nope"})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "quota"
