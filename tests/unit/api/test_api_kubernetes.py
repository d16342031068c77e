"""`GET /v3/apps/{guid}/kubernetes` (`yun k8s render`): the current revision's objects with the
app's env, routes and registry; a gateway or an ingress class of the wrong form is a 422, an app
without a revision a 409."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from tests.unit.api.test_api_tasks import staged_app

from yun.store.models import App, Revision
from yun.store.releases import Plan, create_revision, release


def test_an_apps_revision_renders_with_its_env_routes_and_image(client: TestClient) -> None:
    made = client.post(
        "/v3/apps/push",
        json={
            "application": {
                "name": "shop",
                "env": {"GREETING": "hi"},
                "routes": [{"route": "shop.apps.localhost"}],
            }
        },
    )
    assert made.status_code == 200, made.text
    guid = staged_app(client, "shop")
    answer = client.get(
        f"/v3/apps/{guid}/kubernetes",
        params={"registry": "registry.example:5000", "gateway": "infra/public"},
    )
    assert answer.status_code == 200, answer.text
    objects = answer.json()["objects"]
    kinds = [o["kind"] for o in objects]
    assert kinds[:4] == ["Namespace", "Secret", "NetworkPolicy", "Deployment"]
    assert "HTTPRoute" in kinds
    secret = objects[1]["stringData"]
    assert secret["GREETING"] == "hi"
    assert json.loads(secret["VCAP_APPLICATION"])["application_uris"] == ["shop.apps.localhost"]
    container = objects[3]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example:5000/yun/shop:v1"
    assert container["command"][-1] == "python app.py"
    route = next(o for o in objects if o["kind"] == "HTTPRoute")
    assert route["spec"]["hostnames"] == ["shop.apps.localhost"]


def test_wrong_options_and_an_unstaged_app_are_refused(client: TestClient) -> None:
    guid = client.post("/v3/apps/push", json={"application": {"name": "bare"}}).json()["guid"]
    none_yet = client.get(f"/v3/apps/{guid}/kubernetes")
    assert none_yet.status_code == 409 and "push it first" in none_yet.text
    staged = staged_app(client, "web")
    for params, field in (
        ({"gateway": "public"}, "gateway"),
        ({"ingress_class": "Not A Name"}, "ingress_class"),
        ({"registry": "a b"}, "registry"),
    ):
        wrong = client.get(f"/v3/apps/{staged}/kubernetes", params=params)
        assert wrong.status_code == 422 and field in wrong.json()["error"]["message"]


def test_a_canary_under_way_is_rendered_at_its_share(client: TestClient) -> None:
    guid = staged_app(client, "cart")
    store = client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.session() as session:
        app = session.get(App, guid)
        assert app is not None
        app.state = "STARTED"
        current = session.get(Revision, app.revision_guid)
        assert current is not None
        new = create_revision(
            session,
            app=app,
            droplet_guid=current.droplet_guid,
            commands={"web": "python app.py --v2"},
            description="v2",
            actor="admin",
        )
        deployment = release(
            session, app=app, revision=new, actor="admin", plan=Plan(strategy="canary")
        )
        assert deployment is not None
        deployment.weight = 10
    answer = client.get(f"/v3/apps/{guid}/kubernetes", params={"gateway": "infra/public"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["canary"] == {"version": 2, "weight": 10}
    objects = answer.json()["objects"]
    route = next(o for o in objects if o["kind"] == "HTTPRoute")
    shares = [b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]]
    assert shares == [90, 10]
    canary = next(o for o in objects if o["metadata"]["name"] == "cart-web-canary")
    assert (
        canary["spec"]["template"]["spec"]["containers"][0]["command"][-1] == "python app.py --v2"
    )


def test_the_network_policies_toward_an_app_are_rendered(client: TestClient) -> None:
    shop = staged_app(client, "shop")
    front = client.post("/v3/apps/push", json={"application": {"name": "front"}}).json()["guid"]
    body = {"source": front, "destination": shop, "ports": "8080-8090"}
    assert client.post("/v3/network_policies", json=body).status_code == 201
    objects = client.get(f"/v3/apps/{shop}/kubernetes").json()["objects"]
    (policy,) = [o for o in objects if o["kind"] == "NetworkPolicy"]
    _, allowed = policy["spec"]["ingress"]
    assert allowed["from"][0]["podSelector"] == {"matchLabels": {"yun.dev/app-guid": front}}
    assert allowed["ports"] == [{"protocol": "TCP", "port": 8080, "endPort": 8090}]
