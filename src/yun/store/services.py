"""Queries and rules about services that the API and the controllers share.

- `store_catalog`: a broker's `/v2/catalog` as offering and plan rows (added, changed, and the
  ones the broker no longer lists removed unless instances still use their plans).
- `service_environment`: what an app's bindings put in its environment, in Cloud Foundry's
  `VCAP_SERVICES` shape (keyed by the offering's label, or `user-provided`), plus Heroku's
  conventional `DATABASE_URL` and `REDIS_URL` taken from the first binding with such a URI.
- Operation bookkeeping (`start_operation`, `OPERATION_STATES`) for instances and bindings.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.store.models import (
    App,
    ServiceBinding,
    ServiceInstance,
    ServiceOffering,
    ServicePlan,
)

USER_PROVIDED = "user-provided"
BUSY = ("initial", "in progress")
DATABASE_SCHEMES = ("postgres", "postgresql", "mysql", "mysql2")
REDIS_SCHEMES = ("redis", "rediss")


def start_operation(kind: str, **extra: Any) -> dict[str, Any]:
    """A new last_operation the controllers carry out: {"type", "state": "initial", ...}."""
    return {"type": kind, "state": "initial", "description": "", "started_at": time.time(), **extra}


def busy(operation: dict[str, Any]) -> bool:
    return operation.get("state") in BUSY


def store_catalog(session: Session, *, broker_guid: str, services: list[dict[str, Any]]) -> None:
    known = {
        o.broker_id: o
        for o in session.scalars(
            select(ServiceOffering).where(ServiceOffering.broker_guid == broker_guid)
        )
    }
    listed: set[str] = set()
    for entry in services:
        offering = known.get(entry["id"])
        if offering is None:
            offering = ServiceOffering(broker_guid=broker_guid, broker_id=entry["id"])
            session.add(offering)
        listed.add(entry["id"])
        offering.name = str(entry["name"])
        offering.description = str(entry.get("description") or "")
        offering.bindable = bool(entry.get("bindable", True))
        offering.plan_updateable = bool(entry.get("plan_updateable", False))
        offering.tags = [str(tag) for tag in entry.get("tags") or []]
        offering.requires = [str(item) for item in entry.get("requires") or []]
        offering.extra = {
            key: entry[key]
            for key in ("metadata", "instances_retrievable", "bindings_retrievable")
            if key in entry
        }
        session.flush()
        _store_plans(session, offering=offering, plans=entry["plans"])
    for broker_id, offering in known.items():
        if broker_id not in listed:
            _drop_offering(session, offering)


def _store_plans(session: Session, *, offering: ServiceOffering, plans: list[Any]) -> None:
    known = {
        p.broker_id: p
        for p in session.scalars(
            select(ServicePlan).where(ServicePlan.offering_guid == offering.guid)
        )
    }
    for entry in plans:
        plan = known.pop(entry["id"], None)
        if plan is None:
            plan = ServicePlan(offering_guid=offering.guid, broker_id=entry["id"])
            session.add(plan)
        plan.name = str(entry["name"])
        plan.description = str(entry.get("description") or "")
        plan.free = bool(entry.get("free", True))
        bindable = entry.get("bindable")
        plan.bindable = None if bindable is None else bool(bindable)
        plan.extra = {
            key: entry[key]
            for key in ("metadata", "schemas", "maximum_polling_duration", "plan_updateable")
            if key in entry
        }
    for plan in known.values():
        if not plan_in_use(session, plan.guid):
            session.delete(plan)


def _drop_offering(session: Session, offering: ServiceOffering) -> None:
    plans = list(
        session.scalars(select(ServicePlan).where(ServicePlan.offering_guid == offering.guid))
    )
    if not any(plan_in_use(session, plan.guid) for plan in plans):
        session.delete(offering)


def plan_in_use(session: Session, plan_guid: str) -> bool:
    found = session.scalar(
        select(ServiceInstance.guid).where(ServiceInstance.plan_guid == plan_guid).limit(1)
    )
    return found is not None


def offering_and_plan(
    session: Session, instance: ServiceInstance
) -> tuple[ServiceOffering | None, ServicePlan | None]:
    plan = session.get(ServicePlan, instance.plan_guid) if instance.plan_guid else None
    offering = session.get(ServiceOffering, plan.offering_guid) if plan else None
    return offering, plan


def release_app_bindings(session: Session, app_guid: str) -> list[str]:
    """Before an app is deleted: its bindings leave the app and are unbound at their brokers
    (a binding the broker never made, or of a user-provided service, is simply deleted).
    Returns the guids of the bindings the binding controller has to unbind."""
    unbind: list[str] = []
    for binding in session.scalars(
        select(ServiceBinding).where(
            ServiceBinding.app_guid == app_guid, ServiceBinding.type == "app"
        )
    ):
        instance = session.get(ServiceInstance, binding.service_instance_guid)
        op = binding.last_operation
        never_made = op.get("type") == "create" and op.get("state") == "failed"
        if instance is None or instance.kind == USER_PROVIDED or never_made:
            session.delete(binding)
            continue
        binding.app_guid = None
        if not (busy(op) and op.get("type") == "delete"):
            binding.last_operation = start_operation("delete")
        unbind.append(binding.guid)
    return unbind


def app_bindings(session: Session, app_guid: str) -> list[ServiceBinding]:
    """The app's bindings that are in place (created, not being deleted), oldest first."""
    found = session.scalars(
        select(ServiceBinding)
        .where(ServiceBinding.app_guid == app_guid, ServiceBinding.type == "app")
        .order_by(ServiceBinding.created_at, ServiceBinding.guid)
    )
    return [
        binding
        for binding in found
        if binding.last_operation.get("type", "create") == "create"
        and binding.last_operation.get("state", "succeeded") == "succeeded"
    ]


def _entries(session: Session, app: App) -> list[dict[str, Any]]:
    """One VCAP_SERVICES entry per binding in place, oldest binding first."""
    entries = []
    for binding in app_bindings(session, app.guid):
        instance = session.get(ServiceInstance, binding.service_instance_guid)
        if instance is None:
            continue
        offering, plan = offering_and_plan(session, instance)
        label = offering.name if offering else USER_PROVIDED
        tags = [*(offering.tags if offering else []), *instance.tags]
        entries.append(
            {
                "label": label,
                "provider": None,
                "plan": plan.name if plan else None,
                "name": binding.binding_name or instance.name,
                "binding_guid": binding.guid,
                "binding_name": binding.binding_name,
                "instance_guid": instance.guid,
                "instance_name": instance.name,
                "credentials": dict(binding.credentials),
                "syslog_drain_url": binding.syslog_drain_url or None,
                "volume_mounts": [],
                "tags": list(dict.fromkeys(tags)),
            }
        )
    return entries


def _first_uri(entries: list[dict[str, Any]], schemes: tuple[str, ...]) -> str:
    for entry in entries:
        uri = entry["credentials"].get("uri") or entry["credentials"].get("url")
        if isinstance(uri, str) and uri.partition("://")[0].lower() in schemes:
            return uri
    return ""


def service_environment(session: Session, app: App) -> dict[str, str]:
    """The variables the app's bindings give it (empty when it has none)."""
    entries = _entries(session, app)
    if not entries:
        return {}
    services: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:  # keyed by label, as Cloud Foundry does
        services.setdefault(entry["label"], []).append(entry)
    env = {"VCAP_SERVICES": json.dumps(services, sort_keys=True)}
    for name, schemes in (("DATABASE_URL", DATABASE_SCHEMES), ("REDIS_URL", REDIS_SCHEMES)):
        if uri := _first_uri(entries, schemes):
            env[name] = uri
    return env
