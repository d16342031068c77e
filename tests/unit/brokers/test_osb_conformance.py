"""Conformance of Yun's own broker endpoints with the Open Service Broker API v2.17, served by
a FastAPI app over a backend that records calls (the real servers have their own tests)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from yun.brokers.builtin.base import OfferingSpec, PlanSpec
from yun.brokers.builtin.osb import BuiltinBroker

SERVICE = "11111111-1111-4111-8111-111111111111"
PLAN = "22222222-2222-4222-8222-222222222222"
OTHER_PLAN = "33333333-3333-4333-8333-333333333333"
HEADERS = {"X-Broker-API-Version": "2.17"}
AUTH = ("yun", "secret")


class FakeBackend:
    offering = OfferingSpec(
        id=SERVICE,
        name="fake",
        description="a fake",
        plans=[
            PlanSpec(id=PLAN, name="one", description="1"),
            PlanSpec(id=OTHER_PLAN, name="two", description="2"),
        ],
    )

    def __init__(self) -> None:
        self.provisioned: list[str] = []
        self.release = threading.Event()
        self.release.set()

    def provision(self, instance_id: str, *, plan_id: str, parameters: Mapping[str, Any]) -> None:
        self.release.wait(10)
        self.provisioned.append(instance_id)

    def update(self, instance_id: str, *, plan_id: str, parameters: Mapping[str, Any]) -> None:
        pass

    def deprovision(self, instance_id: str) -> None:
        pass

    def bind(
        self, instance_id: str, binding_id: str, *, parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"uri": f"fake://{binding_id}", "host": "127.0.0.1", "port": 1, "password": "p"}

    def unbind(self, instance_id: str, binding_id: str) -> None:
        pass

    def backup(self, instance_id: str, target: Path) -> str:
        target.write_bytes(b"dump")
        return "fake"

    def restore(self, instance_id: str, source: Path) -> None:
        pass

    def ensure_running(self) -> None:
        pass

    def stop(self) -> None:
        pass


@pytest.fixture
def osb(tmp_path: Path) -> Iterator[tuple[TestClient, FakeBackend]]:
    backend = FakeBackend()
    broker = BuiltinBroker(
        backends=[backend], state_path=tmp_path / "osb", username=AUTH[0], password=AUTH[1]
    )
    app = FastAPI()
    app.include_router(broker.router)
    with TestClient(app) as client:
        yield client, backend
    broker.close()


def _provision(client: TestClient, instance: str, plan: str = PLAN) -> Any:
    return client.put(
        f"/brokers/builtin/v2/service_instances/{instance}?accepts_incomplete=true",
        json={"service_id": SERVICE, "plan_id": plan, "organization_guid": "o", "space_guid": "s"},
        headers=HEADERS,
        auth=AUTH,
    )


def _last(client: TestClient, instance: str) -> Any:
    return client.get(
        f"/brokers/builtin/v2/service_instances/{instance}/last_operation",
        headers=HEADERS,
        auth=AUTH,
    )


def _settled(client: TestClient, instance: str) -> str:
    for _ in range(200):
        state = str(_last(client, instance).json().get("state"))
        if state != "in progress":
            return state
        time.sleep(0.02)
    return "in progress"


def test_wrong_api_version_is_412(osb: tuple[TestClient, FakeBackend]) -> None:
    client, _ = osb
    for headers in ({"X-Broker-API-Version": "1.0"}, {}):
        reply = client.get("/brokers/builtin/v2/catalog", headers=headers, auth=AUTH)
        assert reply.status_code == 412 and reply.json()["description"]


def test_bad_credentials_are_401(osb: tuple[TestClient, FakeBackend]) -> None:
    client, _ = osb
    assert (
        client.get("/brokers/builtin/v2/catalog", headers=HEADERS, auth=("yun", "x")).status_code
        == 401
    )
    assert client.get("/brokers/builtin/v2/catalog", headers=HEADERS).status_code == 401
    catalog = client.get("/brokers/builtin/v2/catalog", headers=HEADERS, auth=AUTH)
    assert catalog.status_code == 200
    assert [s["name"] for s in catalog.json()["services"]] == ["fake"]


def test_async_provision_then_repeats_and_conflicts(osb: tuple[TestClient, FakeBackend]) -> None:
    client, backend = osb
    instance = str(uuid.uuid4())
    backend.release.clear()
    first = _provision(client, instance)
    assert first.status_code == 202 and first.json().get("operation")
    assert _last(client, instance).json()["state"] == "in progress"
    backend.release.set()
    assert _settled(client, instance) == "succeeded"
    assert backend.provisioned == [instance]
    assert _provision(client, instance).status_code == 200  # identical repeat
    assert _provision(client, instance, OTHER_PLAN).status_code == 409  # conflicting one
    sync = client.put(
        f"/brokers/builtin/v2/service_instances/{uuid.uuid4()}",
        json={"service_id": SERVICE, "plan_id": PLAN},
        headers=HEADERS,
        auth=AUTH,
    )
    assert sync.status_code == 422 and sync.json()["error"] == "AsyncRequired"


def test_missing_instance_is_410_on_delete(osb: tuple[TestClient, FakeBackend]) -> None:
    client, _ = osb
    reply = client.delete(
        f"/brokers/builtin/v2/service_instances/{uuid.uuid4()}"
        f"?service_id={SERVICE}&plan_id={PLAN}&accepts_incomplete=true",
        headers=HEADERS,
        auth=AUTH,
    )
    assert reply.status_code == 410


def test_bind_identical_repeat_and_deprovision_gone(osb: tuple[TestClient, FakeBackend]) -> None:
    client, _ = osb
    instance, binding = str(uuid.uuid4()), str(uuid.uuid4())
    _provision(client, instance)
    assert _settled(client, instance) == "succeeded"
    path = f"/brokers/builtin/v2/service_instances/{instance}/service_bindings/{binding}"
    body = {"service_id": SERVICE, "plan_id": PLAN}
    made = client.put(path, json=body, headers=HEADERS, auth=AUTH)
    assert made.status_code == 201 and made.json()["credentials"]["uri"] == f"fake://{binding}"
    again = client.put(path, json=body, headers=HEADERS, auth=AUTH)
    assert again.status_code == 200 and again.json()["credentials"] == made.json()["credentials"]
    query = f"?service_id={SERVICE}&plan_id={PLAN}"
    assert client.delete(path + query, headers=HEADERS, auth=AUTH).status_code == 200
    assert client.delete(path + query, headers=HEADERS, auth=AUTH).status_code == 410
    gone = client.delete(
        f"/brokers/builtin/v2/service_instances/{instance}{query}&accepts_incomplete=true",
        headers=HEADERS,
        auth=AUTH,
    )
    assert gone.status_code == 202
    for _ in range(200):
        if _last(client, instance).status_code == 410:
            break
        time.sleep(0.02)
    assert _last(client, instance).status_code == 410
