"""Route services bound as Cloud Foundry binds them: a user-provided service with a route
service URL, bound to a route of its space and unbound; its URL moving its routes; kept while
a route goes through it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from yun.store.models import Event

GATE = "https://gate.example.com/check"


def _route(client: TestClient) -> dict[str, Any]:
    client.post("/v3/apps/push", json={"application": {"name": "shop"}})
    (route,) = client.get("/v3/routes").json()["resources"]
    return dict(route)


def _service(client: TestClient, name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "type": "user-provided", **fields}
    made = client.post("/v3/service_instances", json=body)
    assert made.status_code == 202, made.text
    return dict(made.json())


def test_a_route_goes_through_a_bound_route_service_until_unbound(
    client: TestClient, woken: list[str]
) -> None:
    route = _route(client)
    gate = _service(client, "gate", route_service_url=GATE)
    assert gate["route_service_url"] == GATE
    woken.clear()
    bound = client.put(
        f"/v3/routes/{route['guid']}/route_service", json={"service_instance": "gate"}
    )
    assert bound.status_code == 200, bound.text
    assert bound.json()["options"]["route_service"] == GATE
    assert bound.json()["route_service_instance"] == "gate"
    assert "routes" in woken
    assert client.get(f"/v3/service_instances/{gate['guid']}").json()["routes"] == [route["url"]]

    kept = client.delete(f"/v3/service_instances/{gate['guid']}")
    assert kept.status_code == 422
    assert kept.json()["error"]["message"] == (
        "service gate is the route service of shop.apps.localhost; unbind it first"
        " (yun unbind-route-service)"
    )
    moved = client.patch(
        f"/v3/service_instances/{gate['guid']}",
        json={"route_service_url": "https://gate2.example.com/"},
    )
    assert moved.status_code == 202, moved.text
    (shown,) = client.get("/v3/routes").json()["resources"]
    assert shown["options"]["route_service"] == "https://gate2.example.com/"

    unbound = client.delete(f"/v3/routes/{route['guid']}/route_service")
    assert unbound.status_code == 200
    assert "route_service" not in unbound.json()["options"]
    assert unbound.json()["route_service_instance"] is None
    again = client.delete(f"/v3/routes/{route['guid']}/route_service")
    assert again.status_code == 422
    assert (
        again.json()["error"]["message"] == "route shop.apps.localhost has no route service bound"
    )
    assert client.delete(f"/v3/service_instances/{gate['guid']}").status_code == 200

    store = client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.session() as session:
        kinds = [e.type for e in session.query(Event).filter(Event.type.like("audit.route.%"))]
    assert kinds == ["audit.route.bind_route_service", "audit.route.unbind_route_service"]


def test_wrong_route_service_bindings_are_refused_naming_the_field(client: TestClient) -> None:
    route = _route(client)
    path = f"/v3/routes/{route['guid']}/route_service"
    _service(client, "mail", credentials={"host": "smtp.example.com"})
    cases = {
        "nothing": (
            "service_instance: nothing is not a service of the route's space (see `yun services`)"
        ),
        "mail": (
            "service_instance: mail has no route service URL (make one with `yun"
            " create-user-provided-service NAME -r URL`)"
        ),
    }
    for name, message in cases.items():
        refused = client.put(path, json={"service_instance": name})
        assert refused.status_code == 422
        assert refused.json()["error"]["message"] == message
    bad = client.post(
        "/v3/service_instances",
        json={"name": "gate", "type": "user-provided", "route_service_url": "ftp://x"},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["message"].startswith("route_service_url: ")
    _service(client, "one", route_service_url=GATE)
    _service(client, "two", route_service_url="https://two.example.com")
    assert client.put(path, json={"service_instance": "one"}).status_code == 200
    taken = client.put(path, json={"service_instance": "two"})
    assert taken.status_code == 409
    assert "bound to route service one" in taken.json()["error"]["message"]
    (shown,) = client.get("/v3/routes").json()["resources"]
    assert shown["options"]["route_service"] == GATE  # nothing half-applied

    own = client.patch(f"/v3/routes/{route['guid']}", json={"route_service": ""})
    assert own.json()["route_service_instance"] is None  # the option, set by hand, wins
