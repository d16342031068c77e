"""The platform's side of the Open Service Broker API v2.17: one broker, one client.

Every request carries `X-Broker-API-Version: 2.17`, basic auth and an `X-Broker-API-Originating-
Identity` naming the user. Backups are Yun's extension of the API, served by its built-in
brokers: `POST …/backups` answers with the dump, `PUT …/restore` takes one.

Replies are turned into small values (`Outcome`, `LastOperation`) the service controllers act
on; anything a user should hear about becomes a `BrokerError` whose message is one line naming
the broker. `BrokerError.orphan` says whether the spec asks the
platform to clean up after the failure (a timeout, a 5xx, a success reply it could not read):
the broker may have created something the platform does not know about.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

API_VERSION = "2.17"
TIMEOUT = 60.0  # the spec's suggested minimum for a platform's request timeout
BACKUP_TIMEOUT = 3600.0  # dumps of big databases take their time
FORMAT_HEADER = "X-Yun-Backup-Format"


class BrokerError(Exception):
    def __init__(
        self, message: str, *, status: int | None = None, error: str = "", orphan: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error  # the broker's error code: AsyncRequired, ConcurrencyError, …
        self.orphan = orphan


@dataclass(frozen=True)
class Outcome:
    """What a provision, update, deprovision, bind or unbind request came to.

    `done` is False when the broker accepted the work (202) and `operation` is then what to
    poll with; `body` is the reply's JSON (credentials, dashboard_url, syslog_drain_url…)."""

    done: bool
    operation: str = ""
    body: Mapping[str, Any] = field(default_factory=dict)
    retry_after: float | None = None
    gone: bool = False  # 410 on a delete: there was nothing left to delete


@dataclass(frozen=True)
class LastOperation:
    state: str  # "in progress", "succeeded" or "failed"
    description: str = ""
    retry_after: float | None = None
    gone: bool = False  # 410: the instance or binding no longer exists


@dataclass(frozen=True)
class Broker:
    name: str
    url: str
    username: str = ""
    password: str = ""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the controller's own backoff applies


class BrokerClient:
    def __init__(
        self,
        broker: Broker,
        *,
        timeout: float = TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.broker = broker
        self._http = httpx.Client(
            base_url=broker.url.rstrip("/"),
            auth=(broker.username, broker.password) if broker.username else None,
            headers={"X-Broker-API-Version": API_VERSION},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BrokerClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- requests -------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        actor: str = "",
    ) -> httpx.Response:
        headers = {}
        if actor:
            identity = base64.b64encode(json.dumps({"user_id": actor}).encode()).decode()
            headers["X-Broker-API-Originating-Identity"] = f"yun {identity}"
        try:
            return self._http.request(
                method, path, params=params, json=body, headers=headers or None
            )
        except httpx.TimeoutException:
            raise BrokerError(
                f"broker {self.broker.name} did not answer {method} {path} in time",
                orphan=True,
            ) from None
        except httpx.HTTPError as exc:
            raise BrokerError(
                f"broker {self.broker.name} cannot be reached at {self.broker.url}: {exc}",
                orphan=method == "PUT",
            ) from None

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise BrokerError(
                f"broker {self.broker.name} answered HTTP {response.status_code} with a body that"
                " is not a JSON object",
                status=response.status_code,
                orphan=response.is_success,
            )
        return data

    def _fail(self, response: httpx.Response, what: str) -> BrokerError:
        try:
            data = response.json()
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        description = str(data.get("description") or "").strip().splitlines()
        error = str(data.get("error") or "")
        detail = description[0] if description else (error or response.reason_phrase)
        return BrokerError(
            f"broker {self.broker.name} refused to {what}: {detail} (HTTP {response.status_code})",
            status=response.status_code,
            error=error,
            orphan=response.status_code >= 500,
        )

    def _outcome(self, response: httpx.Response, what: str, *, deleting: bool) -> Outcome:
        status = response.status_code
        if deleting and status == 410:
            return Outcome(done=True, gone=True)
        if status in (200, 201):
            return Outcome(done=True, body=self._json(response))
        if status == 202:
            body = self._json(response)
            return Outcome(
                done=False,
                operation=str(body.get("operation") or ""),
                body=body,
                retry_after=_retry_after(response),
            )
        raise self._fail(response, what)

    # -- the API --------------------------------------------------------------------------

    def catalog(self) -> list[dict[str, Any]]:
        """The broker's services with their plans, checked enough to be stored."""
        response = self._request("GET", "/v2/catalog")
        if response.status_code != 200:
            raise self._fail(response, "list its catalog")
        services = self._json(response).get("services")
        if not isinstance(services, list):
            raise BrokerError(f"broker {self.broker.name}: its catalog has no services list")
        for number, service in enumerate(services):
            where = f"broker {self.broker.name}: catalog services[{number}]"
            if not isinstance(service, dict):
                raise BrokerError(f"{where} is not an object")
            for key in ("id", "name"):
                if not isinstance(service.get(key), str) or not service[key]:
                    raise BrokerError(f"{where} has no {key}")
            plans = service.get("plans")
            if not isinstance(plans, list) or not plans:
                raise BrokerError(f"{where} ({service['name']}) has no plans")
            for index, plan in enumerate(plans):
                if not isinstance(plan, dict) or not all(
                    isinstance(plan.get(key), str) and plan[key] for key in ("id", "name")
                ):
                    raise BrokerError(f"{where}.plans[{index}] needs an id and a name")
        return services

    def provision(
        self,
        instance_id: str,
        *,
        service_id: str,
        plan_id: str,
        parameters: Mapping[str, Any],
        context: Mapping[str, Any],
        actor: str = "",
    ) -> Outcome:
        body: dict[str, Any] = {
            "service_id": service_id,
            "plan_id": plan_id,
            "context": dict(context),
            "organization_guid": str(context.get("organization_guid", "")),
            "space_guid": str(context.get("space_guid", "")),
        }
        if parameters:
            body["parameters"] = dict(parameters)
        response = self._request(
            "PUT",
            f"/v2/service_instances/{instance_id}",
            params={"accepts_incomplete": "true"},
            body=body,
            actor=actor,
        )
        return self._outcome(response, "create the service", deleting=False)

    def update(
        self,
        instance_id: str,
        *,
        service_id: str,
        plan_id: str,
        previous_plan_id: str,
        parameters: Mapping[str, Any],
        actor: str = "",
    ) -> Outcome:
        body: dict[str, Any] = {
            "service_id": service_id,
            "plan_id": plan_id,
            "previous_values": {"plan_id": previous_plan_id, "service_id": service_id},
        }
        if parameters:
            body["parameters"] = dict(parameters)
        response = self._request(
            "PATCH",
            f"/v2/service_instances/{instance_id}",
            params={"accepts_incomplete": "true"},
            body=body,
            actor=actor,
        )
        return self._outcome(response, "update the service", deleting=False)

    def deprovision(
        self, instance_id: str, *, service_id: str, plan_id: str, actor: str = ""
    ) -> Outcome:
        response = self._request(
            "DELETE",
            f"/v2/service_instances/{instance_id}",
            params={"service_id": service_id, "plan_id": plan_id, "accepts_incomplete": "true"},
            actor=actor,
        )
        return self._outcome(response, "delete the service", deleting=True)

    def last_operation(
        self,
        instance_id: str,
        *,
        service_id: str,
        plan_id: str,
        operation: str,
        binding_id: str = "",
    ) -> LastOperation:
        path = f"/v2/service_instances/{instance_id}"
        if binding_id:
            path += f"/service_bindings/{binding_id}"
        params = {"service_id": service_id, "plan_id": plan_id}
        if operation:
            params["operation"] = operation
        response = self._request("GET", f"{path}/last_operation", params=params)
        if response.status_code == 410:
            return LastOperation(state="succeeded", gone=True)
        if response.status_code != 200:
            raise self._fail(response, "say how the operation went")
        body = self._json(response)
        state = body.get("state")
        if state not in ("in progress", "succeeded", "failed"):
            raise BrokerError(
                f"broker {self.broker.name}: last_operation state {state!r} is not one of"
                " 'in progress', 'succeeded', 'failed'"
            )
        return LastOperation(
            state=str(state),
            description=str(body.get("description") or ""),
            retry_after=_retry_after(response),
        )

    def bind(
        self,
        instance_id: str,
        binding_id: str,
        *,
        service_id: str,
        plan_id: str,
        app_guid: str | None,
        parameters: Mapping[str, Any],
        actor: str = "",
    ) -> Outcome:
        body: dict[str, Any] = {"service_id": service_id, "plan_id": plan_id}
        if app_guid:
            body["app_guid"] = app_guid  # deprecated in the spec, still read by brokers
            body["bind_resource"] = {"app_guid": app_guid}
        if parameters:
            body["parameters"] = dict(parameters)
        response = self._request(
            "PUT",
            f"/v2/service_instances/{instance_id}/service_bindings/{binding_id}",
            params={"accepts_incomplete": "true"},
            body=body,
            actor=actor,
        )
        return self._outcome(response, "bind the service", deleting=False)

    def fetch_binding(self, instance_id: str, binding_id: str) -> dict[str, Any]:
        """An asynchronous binding's credentials, once its last operation succeeded."""
        response = self._request(
            "GET", f"/v2/service_instances/{instance_id}/service_bindings/{binding_id}"
        )
        if response.status_code != 200:
            raise self._fail(response, "show the binding")
        return self._json(response)

    def unbind(
        self,
        instance_id: str,
        binding_id: str,
        *,
        service_id: str,
        plan_id: str,
        actor: str = "",
    ) -> Outcome:
        response = self._request(
            "DELETE",
            f"/v2/service_instances/{instance_id}/service_bindings/{binding_id}",
            params={"service_id": service_id, "plan_id": plan_id, "accepts_incomplete": "true"},
            actor=actor,
        )
        return self._outcome(response, "unbind the service", deleting=True)

    # -- Yun's extension: backups of the built-in brokers' services -----------------------

    def backup(self, instance_id: str, target: Path) -> str:
        """Stream a dump of the instance's data into `target`; returns its format."""
        path = f"/v2/service_instances/{instance_id}/backups"
        try:
            with self._http.stream("POST", path, timeout=BACKUP_TIMEOUT) as response:
                if response.status_code != 200:
                    response.read()
                    raise self._fail(response, "back the service up")
                with target.open("wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        out.write(chunk)
                return str(response.headers.get(FORMAT_HEADER, ""))
        except httpx.HTTPError as exc:
            raise BrokerError(f"broker {self.broker.name}: backup failed: {exc}") from None

    def restore(self, instance_id: str, source: Path, *, format: str) -> None:
        """Replace the instance's data with the dump in `source`."""
        path = f"/v2/service_instances/{instance_id}/restore"
        try:
            with source.open("rb") as dump:
                response = self._http.put(
                    path,
                    content=iter(lambda: dump.read(1 << 20), b""),
                    headers={FORMAT_HEADER: format, "Content-Type": "application/octet-stream"},
                    timeout=BACKUP_TIMEOUT,
                )
        except httpx.HTTPError as exc:
            raise BrokerError(f"broker {self.broker.name}: restore failed: {exc}") from None
        if response.status_code not in (200, 201, 204):
            raise self._fail(response, "restore the service")
