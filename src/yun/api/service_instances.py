"""Service instances: `yun create-service`, `yun create-user-provided-service`, `yun services`,
`yun service`, `yun update-service`, `yun delete-service`.

The API only records what is wanted (a `last_operation` in state "initial") and wakes the
service instance controller, which talks to the broker; clients poll the instance to follow
the operation. User-provided services need no broker and are ready at once.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError, not_found
from yun.api.route_services import bound_routes, checked_route_service
from yun.api.routes import route_url
from yun.store import events
from yun.store.models import (
    App,
    ServiceBinding,
    ServiceBroker,
    ServiceInstance,
    ServiceOffering,
    ServicePlan,
    Space,
)
from yun.store.quotas import QuotaGuard
from yun.store.services import USER_PROVIDED, busy, offering_and_plan, start_operation

router = APIRouter()

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
DRAIN = r"^syslog://[^\s/:]+:\d{1,5}/?$"
DRAIN_HELP = "a syslog drain is syslog://HOST:PORT (RFC 5424 over TCP)"


class InstanceBody(BaseModel):
    name: str = Field(pattern=NAME)
    type: Literal["managed", "user-provided"] = "managed"
    offering: str | None = None
    plan: str | None = None
    broker: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, Any] = Field(default_factory=dict)
    syslog_drain_url: str = Field(default="", pattern=rf"^$|{DRAIN}")
    route_service_url: str = Field(default="", max_length=2048)
    tags: list[str] = Field(default_factory=list, max_length=50)
    space_guid: str | None = None


class InstanceUpdate(BaseModel):
    plan: str | None = None
    parameters: dict[str, Any] | None = None
    credentials: dict[str, Any] | None = None
    syslog_drain_url: str | None = Field(default=None, pattern=rf"^$|{DRAIN}")
    route_service_url: str | None = Field(default=None, max_length=2048)
    tags: list[str] | None = Field(default=None, max_length=50)
    backup_every: float | None = Field(default=None, ge=0)
    """Seconds between scheduled backups; 0 turns the schedule off."""
    backups_kept: int | None = Field(default=None, ge=1, le=1000)


def instance_view(session: Session, instance: ServiceInstance) -> dict[str, Any]:
    offering, plan = offering_and_plan(session, instance)
    broker = session.get(ServiceBroker, offering.broker_guid) if offering else None
    bindings = list(
        session.scalars(
            select(ServiceBinding)
            .where(ServiceBinding.service_instance_guid == instance.guid)
            .order_by(ServiceBinding.created_at)
        )
    )
    apps = [session.get(App, b.app_guid) for b in bindings if b.type == "app" and b.app_guid]
    return {
        "guid": instance.guid,
        "name": instance.name,
        "type": instance.kind,
        "offering": offering.name if offering else USER_PROVIDED,
        "plan": plan.name if plan else "",
        "broker": broker.name if broker else "",
        "tags": list(instance.tags),
        "dashboard_url": instance.dashboard_url,
        "syslog_drain_url": instance.syslog_drain_url,
        "route_service_url": instance.route_service_url,
        "routes": [route_url(session, route) for route in bound_routes(session, instance)],
        "last_operation": {
            k: v for k, v in instance.last_operation.items() if k not in ("poll_at", "polls")
        },
        "apps": [app.name for app in apps if app is not None],
        "keys": [b.name for b in bindings if b.type == "key"],
        "backup_every": instance.backup_every,
        "backups_kept": instance.backups_kept,
        "space_guid": instance.space_guid,
        "created_at": instance.created_at,
    }


def get_instance(session: Session, guid: str) -> ServiceInstance:
    instance = session.get(ServiceInstance, guid)
    if instance is None:
        raise not_found(f"service instance {guid}")
    return instance


def _plan(session: Session, body: InstanceBody) -> ServicePlan:
    if not body.offering:
        raise ApiError(422, "offering: is required for a managed service (see `yun marketplace`)")
    if not body.plan:
        raise ApiError(422, "plan: is required for a managed service (see `yun marketplace`)")
    query = select(ServiceOffering).where(ServiceOffering.name == body.offering)
    if body.broker:
        query = query.join(ServiceBroker, ServiceBroker.guid == ServiceOffering.broker_guid).where(
            ServiceBroker.name == body.broker
        )
    offerings = list(session.scalars(query))
    if not offerings:
        raise ApiError(404, f"offering: {body.offering} is not in the marketplace")
    if len(offerings) > 1:
        raise ApiError(
            422, f"offering: several brokers offer {body.offering}; name one with broker"
        )
    plans = list(
        session.scalars(select(ServicePlan).where(ServicePlan.offering_guid == offerings[0].guid))
    )
    for plan in plans:
        if plan.name == body.plan:
            return plan
    names = ", ".join(sorted(p.name for p in plans))
    raise ApiError(404, f"plan: {body.offering} has no plan {body.plan} (its plans: {names})")


@router.post("/v3/service_instances", status_code=202)
def create_instance(body: InstanceBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    space_guid = body.space_guid or ctx.defaults.space_guid
    with ctx.store.session() as session:
        if session.get(Space, space_guid) is None:
            raise not_found(f"space {space_guid}")
        taken = session.scalar(
            select(ServiceInstance).where(
                ServiceInstance.space_guid == space_guid, ServiceInstance.name == body.name
            )
        )
        if taken is not None:
            raise ApiError(409, f"name: a service instance named {body.name} exists already")
        quotas = QuotaGuard(session, space_guid)
        instance = ServiceInstance(
            name=body.name,
            space_guid=space_guid,
            kind=body.type,
            tags=list(body.tags),
            created_by=user.name,
        )
        if body.type == USER_PROVIDED:
            if body.offering or body.plan or body.parameters:
                raise ApiError(422, "offering: a user-provided service has no offering or plan")
            instance.credentials = dict(body.credentials)
            instance.syslog_drain_url = body.syslog_drain_url
            instance.route_service_url = checked_route_service(body.route_service_url)
            instance.last_operation = {"type": "create", "state": "succeeded", "description": ""}
        else:
            if body.credentials or body.syslog_drain_url or body.route_service_url:
                raise ApiError(
                    422,
                    "credentials: only user-provided services take credentials, a drain or a"
                    " route service URL",
                )
            instance.plan_guid = _plan(session, body).guid
            instance.parameters = dict(body.parameters)
            instance.last_operation = start_operation("create")
        session.add(instance)
        quotas.check()
        events.record_service(
            session,
            type="audit.service_instance.create_request",
            instance=instance,
            actor=user.name,
        )
        view = instance_view(session, instance)
    if body.type != USER_PROVIDED:
        ctx.wake(f"services:{view['guid']}")
    return view


@router.get("/v3/service_instances")
def list_instances(
    ctx: Ctx, _user: CurrentUser, name: str | None = None, space_guid: str | None = None
) -> dict[str, Any]:
    with ctx.store.session() as session:
        query = select(ServiceInstance).where(
            ServiceInstance.space_guid == (space_guid or ctx.defaults.space_guid)
        )
        if name:
            query = query.where(ServiceInstance.name == name)
        found = session.scalars(query.order_by(ServiceInstance.name))
        return {"resources": [instance_view(session, i) for i in found]}


@router.get("/v3/service_instances/{guid}")
def show_instance(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        return instance_view(session, get_instance(session, guid))


def _refuse_while_busy(instance: ServiceInstance) -> None:
    op = instance.last_operation
    if busy(op):
        raise ApiError(
            409, f"service {instance.name} is busy: {op.get('type')} {op.get('state')}; try later"
        )


@router.patch("/v3/service_instances/{guid}", status_code=202)
def update_instance(guid: str, body: InstanceUpdate, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        instance = get_instance(session, guid)
        if body.backup_every is not None:
            instance.backup_every = body.backup_every or None
        if body.backups_kept is not None:
            instance.backups_kept = body.backups_kept
        if body.tags is not None:
            instance.tags = list(body.tags)
        wake = instance.kind != USER_PROVIDED and (body.plan or body.parameters is not None)
        if instance.kind == USER_PROVIDED:
            _update_user_provided(session, instance, body)
        elif wake:
            _refuse_while_busy(instance)
            instance.pending = _pending_update(session, instance, body)
            instance.last_operation = start_operation("update")
        elif any(
            value is not None
            for value in (body.credentials, body.syslog_drain_url, body.route_service_url)
        ):
            raise ApiError(422, "credentials: only user-provided services take credentials")
        view = instance_view(session, instance)
    if wake:
        ctx.wake(f"services:{guid}")
    if body.backup_every is not None:
        ctx.wake("backups")
    if body.route_service_url is not None:
        ctx.wake("routes")
    return view


def _pending_update(
    session: Session, instance: ServiceInstance, body: InstanceUpdate
) -> dict[str, Any]:
    offering, plan = offering_and_plan(session, instance)
    if offering is None or plan is None:
        raise ApiError(422, f"service {instance.name}'s offering is no longer in the marketplace")
    pending: dict[str, Any] = {}
    if body.plan and body.plan != plan.name:
        if not (offering.plan_updateable or plan.extra.get("plan_updateable")):
            raise ApiError(422, f"plan: {offering.name} does not support changing plans")
        new = session.scalar(
            select(ServicePlan).where(
                ServicePlan.offering_guid == offering.guid, ServicePlan.name == body.plan
            )
        )
        if new is None:
            raise ApiError(404, f"plan: {offering.name} has no plan {body.plan}")
        pending["plan_guid"] = new.guid
    if body.parameters is not None:
        pending["parameters"] = dict(body.parameters)
    return pending


def _update_user_provided(
    session: Session, instance: ServiceInstance, body: InstanceUpdate
) -> None:
    if body.plan or body.parameters is not None:
        raise ApiError(422, "plan: a user-provided service has no plan or parameters")
    if body.credentials is not None:
        instance.credentials = dict(body.credentials)
    if body.syslog_drain_url is not None:
        instance.syslog_drain_url = body.syslog_drain_url
    if body.route_service_url is not None:
        url = checked_route_service(body.route_service_url)
        routes = bound_routes(session, instance)
        if not url and routes:
            raise ApiError(
                409,
                f"route_service_url: service {instance.name} is the route service of"
                f" {route_url(session, routes[0])}; unbind it first (yun unbind-route-service)",
            )
        instance.route_service_url = url
        for route in routes:  # their requests go to the new address from now on
            route.options = {**route.options, "route_service": url}
    # Bindings carry what the service said when they were made; apps see it on restart.
    for binding in session.scalars(
        select(ServiceBinding).where(ServiceBinding.service_instance_guid == instance.guid)
    ):
        binding.credentials = dict(instance.credentials)
        binding.syslog_drain_url = instance.syslog_drain_url


@router.delete("/v3/service_instances/{guid}", status_code=202)
def delete_instance(guid: str, ctx: Ctx, user: CurrentUser, response: Response) -> dict[str, Any]:
    with ctx.store.session() as session:
        instance = get_instance(session, guid)
        _refuse_while_busy(instance)
        bindings = list(
            session.scalars(
                select(ServiceBinding).where(ServiceBinding.service_instance_guid == guid)
            )
        )
        apps = sorted(
            app.name
            for b in bindings
            if b.type == "app" and b.app_guid and (app := session.get(App, b.app_guid))
        )
        if apps:
            raise ApiError(
                422,
                f"service {instance.name} is bound to {', '.join(apps)}; unbind it first"
                f" (`yun unbind-service {apps[0]} {instance.name}`)",
            )
        routes = bound_routes(session, instance)
        if routes:
            raise ApiError(
                422,
                f"service {instance.name} is the route service of {route_url(session, routes[0])};"
                " unbind it first (yun unbind-route-service)",
            )
        keys = sorted(b.name for b in bindings if b.type == "key")
        if keys:
            raise ApiError(
                422,
                f"service {instance.name} has service keys ({', '.join(keys)}); delete them first"
                f" (`yun delete-service-key {instance.name} {keys[0]}`)",
            )
        if instance.kind == USER_PROVIDED:
            view = instance_view(session, instance)
            events.record_service(
                session, type="audit.service_instance.delete", instance=instance, actor=user.name
            )
            session.delete(instance)
            response.status_code = 200
            view["last_operation"] = {"type": "delete", "state": "succeeded", "description": ""}
            return view
        instance.last_operation = start_operation("delete")
        instance.created_by = instance.created_by or user.name
        view = instance_view(session, instance)
    ctx.wake(f"services:{guid}")
    return view
