"""Interoperability: a broker written with the third-party `openbrokerapi` library is
registered, its plans provisioned (asynchronously), bound, unbound and deleted through Yun's
API and service controllers, and its credentials end up in the app's environment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tests.integration.services.conftest import ServicePlatform
from tests.thirdparty_broker import RunningBroker, thirdparty_broker

from yun.store.models import App, Process
from yun.store.services import service_environment

pytestmark = pytest.mark.integration


@pytest.fixture
def broker() -> Iterator[RunningBroker]:
    with thirdparty_broker() as running:
        yield running


def _register(platform: ServicePlatform, broker: RunningBroker) -> dict[str, Any]:
    response = platform.api.post(
        "/v3/service_brokers",
        json={
            "name": "kv",
            "url": broker.url,
            "username": broker.username,
            "password": broker.password,
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _app(platform: ServicePlatform, name: str) -> str:
    with platform.store.session() as session:
        app = App(name=name, space_guid=platform.defaults.space_guid)
        session.add(app)
        session.flush()
        session.add(Process(app_guid=app.guid, type="web"))
        return app.guid


def _create(platform: ServicePlatform, name: str, plan: str) -> dict[str, Any]:
    response = platform.api.post(
        "/v3/service_instances",
        json={"name": name, "offering": "keyvalue-store", "plan": plan, "parameters": {"x": 1}},
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


def test_wrong_broker_password_is_refused_and_nothing_is_stored(
    platform: ServicePlatform, broker: RunningBroker
) -> None:
    response = platform.api.post(
        "/v3/service_brokers",
        json={"name": "kv", "url": broker.url, "username": "broker-user", "password": "nope"},
    )
    assert response.status_code == 422
    assert "broker kv refused to list its catalog" in response.json()["error"]["message"]
    assert "401" in response.json()["error"]["message"]
    assert platform.api.get("/v3/service_brokers").json()["resources"] == []
    assert platform.api.get("/v3/service_offerings").json()["resources"] == []


def test_async_plan_is_provisioned_bound_and_its_credentials_reach_the_app(
    platform: ServicePlatform, broker: RunningBroker
) -> None:
    _register(platform, broker)
    market = platform.api.get("/v3/service_offerings").json()["resources"]
    assert [(o["name"], o["broker"]) for o in market] == [("keyvalue-store", "kv")]
    assert sorted(p["name"] for p in market[0]["plans"]) == [
        "async",
        "doomed",
        "flaky",
        "stuck",
        "sync",
    ]

    created = _create(platform, "cache", "async")
    assert created["last_operation"]["state"] == "initial"
    platform.instances.reconcile("services")
    during = platform.api.get(f"/v3/service_instances/{created['guid']}").json()
    assert during["last_operation"]["state"] == "in progress"
    platform.settle()
    done = platform.api.get(f"/v3/service_instances/{created['guid']}").json()
    assert done["last_operation"]["state"] == "succeeded", done
    assert broker.broker.calls.instances == {created["guid"]: "async"}
    assert broker.broker.calls.polls[created["guid"]] == 3  # two "in progress", one "succeeded"

    app_guid = _app(platform, "shop")
    bound = platform.api.post(
        "/v3/service_bindings",
        json={"type": "app", "service_instance": created["guid"], "app": app_guid},
    )
    assert bound.status_code == 202, bound.text
    platform.settle()
    binding = platform.api.get(f"/v3/service_bindings/{bound.json()['guid']}").json()
    assert binding["last_operation"]["state"] == "succeeded"
    assert broker.broker.calls.binds == [(created["guid"], binding["guid"], app_guid)]

    with platform.store.session() as session:
        env = service_environment(session, session.get(App, app_guid))  # type: ignore[arg-type]
    services = json.loads(env["VCAP_SERVICES"])
    [entry] = services["keyvalue-store"]
    assert entry["name"] == "cache" and entry["instance_name"] == "cache"
    assert entry["plan"] == "async" and entry["label"] == "keyvalue-store"
    assert entry["tags"] == ["keyvalue", "thirdparty"]
    assert entry["credentials"]["binding"] == binding["guid"]
    assert env["REDIS_URL"] == entry["credentials"]["uri"]
    assert "DATABASE_URL" not in env

    refused = platform.api.delete(f"/v3/service_instances/{created['guid']}")
    assert refused.status_code == 422
    assert "bound to shop" in refused.json()["error"]["message"]

    assert platform.api.delete(f"/v3/service_bindings/{binding['guid']}").status_code == 202
    platform.settle()
    assert broker.broker.calls.unbinds == [binding["guid"]]
    assert platform.api.get(f"/v3/service_bindings/{binding['guid']}").status_code == 404

    assert platform.api.delete(f"/v3/service_instances/{created['guid']}").status_code == 202
    platform.settle()
    assert platform.api.get(f"/v3/service_instances/{created['guid']}").status_code == 404
    assert broker.broker.calls.deprovisions == [created["guid"]]


def test_a_failed_provision_shows_the_brokers_reason_and_is_cleaned_up(
    platform: ServicePlatform, broker: RunningBroker
) -> None:
    _register(platform, broker)
    created = _create(platform, "doomed-one", "doomed")
    platform.settle()
    failed = platform.api.get(f"/v3/service_instances/{created['guid']}").json()
    op = failed["last_operation"]
    assert op["state"] == "failed"
    assert "no capacity left for doomed instances (HTTP 400)" in op["description"]
    assert broker.broker.calls.deprovisions == []  # a refusal leaves nothing behind
    app_guid = _app(platform, "app-of-doom")
    refused = platform.api.post(
        "/v3/service_bindings",
        json={"type": "app", "service_instance": created["guid"], "app": app_guid},
    )
    assert refused.status_code == 422 and "failed" in refused.json()["error"]["message"]


def test_a_broker_error_that_may_leave_an_orphan_is_followed_by_a_deprovision(
    platform: ServicePlatform, broker: RunningBroker
) -> None:
    _register(platform, broker)
    created = _create(platform, "flaky-one", "flaky")
    platform.settle()
    op = platform.api.get(f"/v3/service_instances/{created['guid']}").json()["last_operation"]
    assert op["state"] == "failed" and "(HTTP 500)" in op["description"]
    assert "asked the broker to clean up" in op["description"]
    assert broker.broker.calls.deprovisions == [created["guid"]]
    # A failed service can still be deleted (the broker answers 410: nothing left).
    assert platform.api.delete(f"/v3/service_instances/{created['guid']}").status_code == 202
    platform.settle()
    assert platform.api.get(f"/v3/service_instances/{created['guid']}").status_code == 404


def test_a_broker_that_never_finishes_is_given_up_on_with_the_reason(
    platform: ServicePlatform, broker: RunningBroker
) -> None:
    """A hung backend: the plan's maximum_polling_duration (1 s) runs out, and the service is
    failed with why, instead of being created for ever; the broker is asked to clean up."""
    _register(platform, broker)
    created = _create(platform, "stuck-one", "stuck")
    platform.settle(timeout=30)
    op = platform.api.get(f"/v3/service_instances/{created['guid']}").json()["last_operation"]
    assert op["state"] == "failed"
    assert "the broker did not finish within 1 s" in op["description"]
    assert broker.broker.calls.polls[created["guid"]] >= 1  # it was asked, and kept saying so
    assert broker.broker.calls.deprovisions == [created["guid"]]


def test_service_keys_and_bad_requests(platform: ServicePlatform, broker: RunningBroker) -> None:
    _register(platform, broker)
    created = _create(platform, "kv-sync", "sync")
    platform.settle()
    assert (
        platform.api.get(f"/v3/service_instances/{created['guid']}").json()["dashboard_url"]
        == f"http://127.0.0.1/dash/{created['guid']}"
    )
    key = platform.api.post(
        "/v3/service_bindings",
        json={"type": "key", "service_instance": created["guid"], "name": "laptop"},
    )
    assert key.status_code == 202
    platform.settle()
    shown = platform.api.get(f"/v3/service_bindings/{key.json()['guid']}").json()
    assert shown["credentials"]["uri"].startswith("redis://")
    assert broker.broker.calls.binds[-1][2] is None  # a key is bound to no app
    again = platform.api.post(
        "/v3/service_bindings",
        json={"type": "key", "service_instance": created["guid"], "name": "laptop"},
    )
    assert again.status_code == 409
    refused = platform.api.delete(f"/v3/service_instances/{created['guid']}")
    assert (
        refused.status_code == 422 and "service keys (laptop)" in refused.json()["error"]["message"]
    )

    unknown_plan = platform.api.post(
        "/v3/service_instances",
        json={"name": "x", "offering": "keyvalue-store", "plan": "gold"},
    )
    assert unknown_plan.status_code == 404
    assert unknown_plan.json()["error"]["message"].startswith(
        "plan: keyvalue-store has no plan gold"
    )
    no_plan = platform.api.post(
        "/v3/service_instances", json={"name": "x", "offering": "keyvalue-store"}
    )
    assert no_plan.status_code == 422 and no_plan.json()["error"]["message"].startswith("plan:")
    taken = platform.api.post(
        "/v3/service_instances",
        json={"name": "kv-sync", "offering": "keyvalue-store", "plan": "sync"},
    )
    assert taken.status_code == 409
    bad_name = platform.api.post(
        "/v3/service_instances", json={"name": "no spaces", "offering": "keyvalue-store"}
    )
    assert bad_name.status_code == 422 and bad_name.json()["error"]["message"].startswith("name:")


def test_deleting_an_app_unbinds_it_at_the_broker(
    platform: ServicePlatform, broker: RunningBroker
) -> None:
    _register(platform, broker)
    created = _create(platform, "kv-of-a-gone-app", "sync")
    platform.settle()
    app_guid = _app(platform, "short-lived")
    bound = platform.api.post(
        "/v3/service_bindings",
        json={"type": "app", "service_instance": created["guid"], "app": app_guid},
    )
    platform.settle()
    assert broker.broker.calls.binds == [(created["guid"], bound.json()["guid"], app_guid)]

    assert platform.api.delete(f"/v3/apps/{app_guid}").status_code == 200
    platform.settle()
    # The broker revoked the credentials, and nothing holds the service any more.
    assert broker.broker.calls.unbinds == [bound.json()["guid"]]
    assert platform.api.get(f"/v3/service_bindings/{bound.json()['guid']}").status_code == 404
    assert platform.api.delete(f"/v3/service_instances/{created['guid']}").status_code == 202
    platform.settle()
    assert broker.broker.calls.deprovisions == [created["guid"]]
