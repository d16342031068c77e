"""TCP routes through the API: `GET/POST /v3/tcp_routes`, `DELETE /v3/tcp_routes/{guid}`."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def _app(client: TestClient, name: str = "echo") -> str:
    client.post("/v3/apps/push", json={"application": {"name": name}})
    (found,) = client.get("/v3/apps", params={"name": name}).json()["resources"]
    return str(found["guid"])


def _create(client: TestClient, **body: Any) -> Any:
    return client.post("/v3/tcp_routes", json=body)


def test_a_new_route_gets_the_lowest_port_and_wakes_routes_and_instances(
    client: TestClient, woken: list[str]
) -> None:
    guid = _app(client)
    woken.clear()
    reply = _create(client, app=guid)
    assert reply.status_code == 201
    view = reply.json()
    assert view["url"] == "tcp://127.0.0.1:40000"
    assert (view["port"], view["name"], view["app"]) == (40000, "tcp", "echo")
    assert {"routes", "instances"} <= set(woken)
    assert view.pop("deployment") is None  # the app is not running: nothing to roll out
    assert client.get("/v3/tcp_routes").json()["resources"] == [view]


def test_creating_again_returns_the_same_route(client: TestClient) -> None:
    guid = _app(client)
    first = _create(client, app=guid).json()
    again = _create(client, app=guid, name="tcp")
    assert again.status_code == 201 and again.json() == first
    second = _create(client, app=guid, name="admin").json()
    assert second["port"] == 40001
    assert len(client.get("/v3/tcp_routes").json()["resources"]) == 2


def test_a_taken_port_is_409_naming_its_app(client: TestClient) -> None:
    shop, echo = _app(client, "shop"), _app(client)
    assert _create(client, app=shop, port=40005).status_code == 201
    taken = _create(client, app=echo, port=40005)
    assert taken.status_code == 409
    assert "port 40005 is taken by app shop" in taken.json()["error"]["message"]


def test_bad_input_is_4xx_naming_the_field(client: TestClient) -> None:
    guid = _app(client)
    outside = _create(client, app=guid, port=80)
    assert outside.status_code == 422 and "port 80 is outside" in outside.json()["error"]["message"]
    wrong = _create(client, app=guid, port="many")
    assert wrong.status_code == 422 and wrong.json()["error"]["message"].startswith("port:")
    name = _create(client, app=guid, name="no spaces")
    assert name.status_code == 422 and "TCP route name" in name.json()["error"]["message"]
    missing = client.post("/v3/tcp_routes", json={})
    assert missing.status_code == 422 and missing.json()["error"]["message"].startswith("app:")
    unknown = _create(client, app="no-such-guid")
    assert unknown.status_code == 404 and "app no-such-guid" in unknown.json()["error"]["message"]
    assert client.get("/v3/tcp_routes").json()["resources"] == []


def test_deleting_frees_the_port(client: TestClient, woken: list[str]) -> None:
    guid = _app(client)
    route = _create(client, app=guid).json()
    woken.clear()
    assert client.delete(f"/v3/tcp_routes/{route['guid']}").status_code == 200
    assert {"routes", "instances"} <= set(woken)
    assert client.get("/v3/tcp_routes").json()["resources"] == []
    assert client.delete(f"/v3/tcp_routes/{route['guid']}").status_code == 404
    assert _create(client, app=_app(client, "shop")).json()["port"] == 40000


def test_deleting_the_app_deletes_its_routes(client: TestClient) -> None:
    guid = _app(client)
    _create(client, app=guid)
    assert client.delete(f"/v3/apps/{guid}").status_code == 200
    assert client.get("/v3/tcp_routes").json()["resources"] == []
