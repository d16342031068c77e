"""Domains and Cloud Foundry's route verbs through the API: shared and private domains, routes
reserved for a space, mapped to apps and unmapped; bad names are one 422 naming the field."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from yun.store.models import App, Org, Space


def _app(client: TestClient, name: str = "shop") -> dict[str, Any]:
    reply = client.post("/v3/apps/push", json={"application": {"name": name}})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def _other_space(client: TestClient) -> tuple[str, str]:
    """A second org with a space (orgs have no API yet): (org guid, space guid)."""
    store = client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.session() as session:
        org = Org(name="rivals")
        session.add(org)
        session.flush()
        space = Space(name="prod", org_guid=org.guid)
        session.add(space)
        session.flush()
        return org.guid, space.guid


def _app_in(client: TestClient, space_guid: str, name: str) -> str:
    reply = client.post(
        "/v3/apps/push", json={"application": {"name": name}, "space_guid": space_guid}
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["guid"])


def test_the_default_domain_is_listed_shared_and_default(client: TestClient) -> None:
    (domain,) = client.get("/v3/domains").json()["resources"]
    assert domain["name"] == "apps.localhost"
    assert (domain["type"], domain["default"], domain["internal"]) == ("shared", True, False)


def test_shared_and_private_domains_are_made_once_with_checked_names(client: TestClient) -> None:
    made = client.post("/v3/domains", json={"name": "Example.COM"})
    assert made.status_code == 201
    assert made.json()["name"] == "example.com"
    assert client.post("/v3/domains", json={"name": "example.com"}).status_code == 409
    bad = client.post("/v3/domains", json={"name": "not a domain"})
    assert bad.status_code == 422
    assert bad.json()["error"]["message"].startswith("name: 'not a domain' is not a domain name")
    assert client.post("/v3/domains", json={"name": "localhost"}).status_code == 422
    lost = client.post("/v3/domains", json={"name": "team.example", "org": "nobody"})
    assert lost.status_code == 404
    private = client.post("/v3/domains", json={"name": "team.example", "org": "main"}).json()
    assert (private["type"], private["org"]) == ("private", "main")
    internal = client.post("/v3/domains", json={"name": "apps.internal", "internal": True})
    assert internal.json()["internal"] is True
    named = client.post("/v3/routes", json={"domain": "apps.internal", "host": "api"})
    assert named.status_code == 201, named.text
    pathed = client.post(
        "/v3/routes", json={"domain": "apps.internal", "host": "web", "path": "/api"}
    )
    assert pathed.status_code == 422
    assert "internal domain apps.internal takes no path" in pathed.json()["error"]["message"]


def test_a_route_is_reserved_mapped_and_unmapped(client: TestClient, woken: list[str]) -> None:
    app = _app(client)
    client.post("/v3/domains", json={"name": "example.com"})
    made = client.post("/v3/routes", json={"domain": "example.com", "host": "WWW", "path": "/api/"})
    assert made.status_code == 201, made.text
    route = made.json()
    assert (route["url"], route["apps"]) == ("www.example.com/api", [])
    again = client.post("/v3/routes", json={"domain": "example.com", "host": "www", "path": "/api"})
    assert again.status_code == 409
    assert (
        again.json()["error"]["message"] == "route www.example.com/api already exists in this space"
    )

    woken.clear()
    mapped = client.post(f"/v3/routes/{route['guid']}/destinations", json={"app": app["guid"]})
    assert mapped.json()["apps"] == ["shop"]
    assert "routes" in woken
    found = client.get("/v3/routes", params={"domain": "example.com", "host": "www"}).json()
    assert [r["url"] for r in found["resources"]] == ["www.example.com/api"]

    unmapped = client.delete(f"/v3/routes/{route['guid']}/destinations/{app['guid']}")
    assert unmapped.json()["apps"] == []
    twice = client.delete(f"/v3/routes/{route['guid']}/destinations/{app['guid']}")
    assert twice.status_code == 404
    assert client.delete(f"/v3/routes/{route['guid']}").status_code == 200
    assert client.get("/v3/routes", params={"domain": "example.com"}).json()["resources"] == []


def test_bad_hosts_and_paths_are_refused_naming_the_field(client: TestClient) -> None:
    body = {"domain": "apps.localhost", "host": "bad host"}
    reply = client.post("/v3/routes", json=body)
    assert reply.status_code == 422
    assert reply.json()["error"]["message"].startswith("host: 'bad host' is not a host name")
    reply = client.post("/v3/routes", json={"domain": "apps.localhost", "host": "a", "path": "x y"})
    assert reply.json()["error"]["message"].startswith("path: 'x y' is not a path")
    bare = client.post("/v3/routes", json={"domain": "apps.localhost"})
    assert bare.status_code == 422
    assert "needs a host" in bare.json()["error"]["message"]
    missing = client.post("/v3/routes", json={"domain": "nowhere.example", "host": "a"})
    assert missing.status_code == 404
    assert "domains: apps.localhost" in missing.json()["error"]["message"]


def test_a_private_domain_is_its_orgs_alone(client: TestClient) -> None:
    client.post("/v3/domains", json={"name": "team.example", "org": "main"})
    apex = client.post("/v3/routes", json={"domain": "team.example"})
    assert apex.status_code == 201  # a private domain's own name may be a route
    assert apex.json()["url"] == "team.example"
    _, space = _other_space(client)
    refused = client.post(
        "/v3/routes", json={"domain": "team.example", "host": "x", "space_guid": space}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "domain team.example is private to org main"
    pushed = client.post(
        "/v3/apps/push",
        json={
            "application": {"name": "spy", "routes": [{"route": "spy.team.example"}]},
            "space_guid": space,
        },
    )
    assert pushed.status_code == 403


def test_another_spaces_route_cannot_be_mapped(client: TestClient) -> None:
    route = client.post("/v3/routes", json={"domain": "apps.localhost", "host": "mine"}).json()
    _, space = _other_space(client)
    stranger = _app_in(client, space, "stranger")
    reply = client.post(f"/v3/routes/{route['guid']}/destinations", json={"app": stranger})
    assert reply.status_code == 409
    assert "belongs to another space" in reply.json()["error"]["message"]
    store = client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.session() as session:
        assert session.get(App, stranger) is not None


def test_a_domain_with_routes_goes_only_when_forced_and_the_default_stays(
    client: TestClient,
) -> None:
    app = _app(client)
    client.post("/v3/domains", json={"name": "example.com"})
    route = client.post("/v3/routes", json={"domain": "example.com", "host": "www"}).json()
    client.post(f"/v3/routes/{route['guid']}/destinations", json={"app": app["guid"]})
    kept = client.delete("/v3/domains/example.com")
    assert kept.status_code == 409
    assert "has 1 route(s)" in kept.json()["error"]["message"]
    assert client.delete("/v3/domains/example.com", params={"force": "true"}).status_code == 200
    assert [d["name"] for d in client.get("/v3/domains").json()["resources"]] == ["apps.localhost"]
    assert [r["url"] for r in client.get("/v3/routes").json()["resources"]] == [
        "shop.apps.localhost"
    ]
    assert client.delete("/v3/domains/apps.localhost").status_code == 422
