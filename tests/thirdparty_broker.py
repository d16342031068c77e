"""A service broker written with `openbrokerapi` (a third-party OSB implementation), served by
werkzeug on a free loopback port: what interoperability tests register with Yun.

Offering `keyvalue-store`: plan `async` provisions asynchronously (last_operation says
"in progress" twice, then "succeeded"), plan `sync` at once, plan `doomed` is refused (400),
plan `flaky` fails with a 500, plan `stuck` stays "in progress" for ever (a hung backend) and
says the platform should give up after 1 s (`maximum_polling_duration`). Bindings get
credentials naming the instance and binding, with a `redis://` URI.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from openbrokerapi import api as obapi
from openbrokerapi import errors
from openbrokerapi.catalog import ServicePlan
from openbrokerapi.service_broker import (
    Binding,
    DeprovisionServiceSpec,
    LastOperation,
    OperationState,
    ProvisionedServiceSpec,
    ProvisionState,
    Service,
    ServiceBroker,
    UnbindSpec,
)
from tests.helpers import free_port
from werkzeug.serving import make_server

SERVICE_ID = "5a1c3f0e-8f4e-4a5e-9d55-2a0c6f1d7b10"
PLANS = {
    "async": "6b2d4e1f-9a5f-4b6f-8e66-3b1d7a2e8c21",
    "sync": "7c3e5f2a-ab6a-4c7a-9f77-4c2e8b3f9d32",
    "doomed": "8d4f6a3b-bc7b-4d8b-a088-5d3f9c4aae43",
    "flaky": "9e5a7b4c-cd8c-4e9c-b199-6e4aad5bbf54",
    "stuck": "af6b8c5d-de9d-4fad-82aa-7f5bbe6cc065",
}
POLLS_BEFORE_DONE = 2


@dataclass
class Calls:
    provisions: list[str] = field(default_factory=list)
    deprovisions: list[str] = field(default_factory=list)
    binds: list[tuple[str, str, str | None]] = field(default_factory=list)
    unbinds: list[str] = field(default_factory=list)
    polls: dict[str, int] = field(default_factory=dict)
    instances: dict[str, str] = field(default_factory=dict)  # id → plan name


class KeyValueBroker(ServiceBroker):  # type: ignore[misc]
    def __init__(self) -> None:
        self.calls = Calls()
        self.lock = threading.Lock()

    def catalog(self) -> Service:
        return Service(
            id=SERVICE_ID,
            name="keyvalue-store",
            description="A key-value store from a broker written with openbrokerapi",
            bindable=True,
            tags=["keyvalue", "thirdparty"],
            plans=[
                ServicePlan(
                    id=plan_id,
                    name=name,
                    description=f"the {name} plan",
                    **({"maximum_polling_duration": 1} if name == "stuck" else {}),
                )
                for name, plan_id in PLANS.items()
            ],
        )

    def provision(self, instance_id: str, details: Any, async_allowed: bool, **_: Any) -> Any:
        plan = next(name for name, plan_id in PLANS.items() if plan_id == details.plan_id)
        with self.lock:
            self.calls.provisions.append(instance_id)
            if plan == "doomed":
                raise errors.ErrBadRequest("no capacity left for doomed instances")
            if plan == "flaky":  # a 500: the platform cannot know what was left behind
                raise errors.ServiceException("lost track of it")
            if instance_id in self.calls.instances:
                return ProvisionedServiceSpec(state=ProvisionState.IDENTICAL_ALREADY_EXISTS)
            self.calls.instances[instance_id] = plan
        if plan in ("async", "stuck"):
            if not async_allowed:
                raise errors.ErrAsyncRequired()
            return ProvisionedServiceSpec(state=ProvisionState.IS_ASYNC, operation="provisioning")
        return ProvisionedServiceSpec(dashboard_url=f"http://127.0.0.1/dash/{instance_id}")

    def last_operation(self, instance_id: str, operation_data: Any, **_: Any) -> LastOperation:
        with self.lock:
            count = self.calls.polls.get(instance_id, 0) + 1
            self.calls.polls[instance_id] = count
            stuck = self.calls.instances.get(instance_id) == "stuck"
        if stuck or count <= POLLS_BEFORE_DONE:
            return LastOperation(OperationState.IN_PROGRESS, f"warming up ({count})")
        return LastOperation(OperationState.SUCCEEDED, "ready")

    def deprovision(self, instance_id: str, details: Any, async_allowed: bool, **_: Any) -> Any:
        with self.lock:
            self.calls.deprovisions.append(instance_id)
            if self.calls.instances.pop(instance_id, None) is None:
                raise errors.ErrInstanceDoesNotExist()
        return DeprovisionServiceSpec(is_async=False)

    def bind(
        self, instance_id: str, binding_id: str, details: Any, async_allowed: bool, **_: Any
    ) -> Binding:
        app_guid = details.bind_resource.app_guid if details.bind_resource else details.app_guid
        with self.lock:
            self.calls.binds.append((instance_id, binding_id, app_guid))
        return Binding(
            credentials={
                "uri": f"redis://:secret-{binding_id[:8]}@127.0.0.1:6399",
                "instance": instance_id,
                "binding": binding_id,
            }
        )

    def unbind(
        self, instance_id: str, binding_id: str, details: Any, async_allowed: bool, **_: Any
    ) -> UnbindSpec:
        with self.lock:
            self.calls.unbinds.append(binding_id)
        return UnbindSpec(is_async=False)


@dataclass
class RunningBroker:
    url: str
    username: str
    password: str
    broker: KeyValueBroker


@contextmanager
def thirdparty_broker() -> Iterator[RunningBroker]:
    broker = KeyValueBroker()
    app = Flask("thirdparty-broker")
    credentials = obapi.BrokerCredentials("broker-user", "broker-pass")
    app.register_blueprint(
        obapi.get_blueprint(broker, credentials, logging.getLogger("thirdparty-broker"))
    )
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield RunningBroker(
            url=f"http://127.0.0.1:{port}",
            username="broker-user",
            password="broker-pass",
            broker=broker,
        )
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
