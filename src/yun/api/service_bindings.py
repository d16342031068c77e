"""Service bindings and keys: `yun bind-service`, `yun unbind-service`, `yun create-service-key`,
`yun service-keys`, `yun service-key`, `yun delete-service-key`.

A binding gives an app the service's credentials (in `VCAP_SERVICES`, `DATABASE_URL`,
`REDIS_URL`) from its next restart on; a key gives them to a person. Managed services' bindings
are created and deleted by the binding controller at the broker; user-provided ones at once.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError, not_found
from yun.api.lookups import get_app
from yun.api.policy import CallerGrants
from yun.api.service_instances import get_instance
from yun.store import events
from yun.store.events import redact_values
from yun.store.models import App, ServiceBinding, ServiceInstance
from yun.store.roles import SECRETS, SEE, spaces_where
from yun.store.services import USER_PROVIDED, busy, offering_and_plan, start_operation

router = APIRouter()


class BindingBody(BaseModel):
    type: Literal["app", "key"] = "app"
    service_instance: str
    app: str | None = None
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    """The key's name, or an app binding's name (VCAP_SERVICES' binding_name)."""
    parameters: dict[str, Any] = Field(default_factory=dict)


def binding_view(
    session: Session, binding: ServiceBinding, *, secrets: bool = True
) -> dict[str, Any]:
    """The binding; its credentials' values hidden unless `secrets` (the caller may read them)."""
    instance = session.get(ServiceInstance, binding.service_instance_guid)
    app = session.get(App, binding.app_guid) if binding.app_guid else None
    return {
        "guid": binding.guid,
        "type": binding.type,
        "name": binding.name,
        "binding_name": binding.binding_name,
        "service_instance": instance.name if instance else "",
        "service_instance_guid": binding.service_instance_guid,
        "app": app.name if app else None,
        "app_guid": binding.app_guid,
        "credentials": dict(binding.credentials) if secrets else redact_values(binding.credentials),
        "syslog_drain_url": binding.syslog_drain_url,
        "last_operation": {
            k: v for k, v in binding.last_operation.items() if k not in ("poll_at", "polls")
        },
        "created_at": binding.created_at,
    }


def _check_bindable(session: Session, instance: ServiceInstance) -> None:
    op = instance.last_operation
    if op.get("type") == "create" and op.get("state") != "succeeded":
        state = "failed" if op.get("state") == "failed" else "still being created"
        raise ApiError(
            422, f"service {instance.name} is {state}; see `yun service {instance.name}`"
        )
    if op.get("type") == "delete" and busy(op):
        raise ApiError(422, f"service {instance.name} is being deleted")
    offering, plan = offering_and_plan(session, instance)
    bindable = plan.bindable if plan and plan.bindable is not None else None
    if offering is not None and not (offering.bindable if bindable is None else bindable):
        raise ApiError(422, f"service {instance.name} ({offering.name}) cannot be bound")


def _existing(
    session: Session, instance: ServiceInstance, body: BindingBody, app: App | None
) -> ServiceBinding | None:
    if app is not None:
        return session.scalar(
            select(ServiceBinding).where(
                ServiceBinding.service_instance_guid == instance.guid,
                ServiceBinding.type == "app",
                ServiceBinding.app_guid == app.guid,
            )
        )
    return session.scalar(
        select(ServiceBinding).where(
            ServiceBinding.service_instance_guid == instance.guid,
            ServiceBinding.type == "key",
            ServiceBinding.name == body.name,
        )
    )


@router.post("/v3/service_bindings", status_code=202)
def create_binding(
    body: BindingBody, ctx: Ctx, user: CurrentUser, response: Response
) -> dict[str, Any]:
    with ctx.store.session() as session:
        instance = get_instance(session, body.service_instance)
        app: App | None = None
        if body.type == "app":
            if not body.app:
                raise ApiError(422, "app: is required for an app binding")
            app = get_app(session, body.app)
            if app.space_guid != instance.space_guid:
                raise ApiError(
                    422, f"app {app.name} and service {instance.name} are in other spaces"
                )
        elif not body.name:
            raise ApiError(422, "name: a service key needs a name")
        _check_bindable(session, instance)
        if _existing(session, instance, body, app) is not None:
            what = f"app {app.name} is already bound to" if app else f"a key {body.name} exists for"
            raise ApiError(409, f"{what} service {instance.name}")
        binding = ServiceBinding(
            service_instance_guid=instance.guid,
            type=body.type,
            app_guid=app.guid if app else None,
            name=body.name or (app.name if app else ""),
            binding_name=body.name if app else None,
            parameters=dict(body.parameters),
            created_by=user.name,
        )
        if instance.kind == USER_PROVIDED:
            if body.parameters:
                raise ApiError(422, "parameters: user-provided services take no parameters")
            binding.credentials = dict(instance.credentials)
            binding.syslog_drain_url = instance.syslog_drain_url
            binding.last_operation = {"type": "create", "state": "succeeded", "description": ""}
            response.status_code = 201
        else:
            binding.last_operation = start_operation("create")
        session.add(binding)
        session.flush()
        events.record_service(
            session,
            type=f"audit.service_{'binding' if app else 'key'}.create_request",
            instance=instance,
            actor=user.name,
            data={"app": app.name if app else None, "name": binding.name},
        )
        view = binding_view(session, binding)
    if instance.kind != USER_PROVIDED:
        ctx.wake(f"bindings:{view['guid']}")
    return view


@router.get("/v3/service_bindings")
def list_bindings(
    ctx: Ctx,
    grants: CallerGrants,
    app_guid: str | None = None,
    service_instance_guid: str | None = None,
    type: Literal["app", "key"] | None = None,
) -> dict[str, Any]:
    with ctx.store.session() as session:
        query = select(ServiceBinding).order_by(ServiceBinding.created_at)
        if app_guid:
            query = query.where(ServiceBinding.app_guid == app_guid)
        if service_instance_guid:
            query = query.where(ServiceBinding.service_instance_guid == service_instance_guid)
        if type:
            query = query.where(ServiceBinding.type == type)
        seen = spaces_where(session, grants, SEE)
        readable = spaces_where(session, grants, SECRETS)
        if seen is not None:
            query = query.join(
                ServiceInstance, ServiceInstance.guid == ServiceBinding.service_instance_guid
            ).where(ServiceInstance.space_guid.in_(seen))
        return {
            "resources": [
                binding_view(session, b, secrets=_may_read(session, b, readable))
                for b in session.scalars(query)
            ]
        }


def _may_read(session: Session, binding: ServiceBinding, readable: set[str] | None) -> bool:
    if readable is None:
        return True
    instance = session.get(ServiceInstance, binding.service_instance_guid)
    return instance is not None and instance.space_guid in readable


def _binding(session: Session, guid: str) -> ServiceBinding:
    binding = session.get(ServiceBinding, guid)
    if binding is None:
        raise not_found(f"service binding {guid}")
    return binding


@router.get("/v3/service_bindings/{guid}")
def show_binding(guid: str, ctx: Ctx, grants: CallerGrants) -> dict[str, Any]:
    with ctx.store.session() as session:
        binding = _binding(session, guid)
        readable = spaces_where(session, grants, SECRETS)
        return binding_view(session, binding, secrets=_may_read(session, binding, readable))


@router.delete("/v3/service_bindings/{guid}", status_code=202)
def delete_binding(guid: str, ctx: Ctx, user: CurrentUser, response: Response) -> dict[str, Any]:
    with ctx.store.session() as session:
        binding = _binding(session, guid)
        instance = session.get(ServiceInstance, binding.service_instance_guid)
        view = binding_view(session, binding)
        if busy(binding.last_operation) and binding.last_operation.get("type") == "delete":
            return view  # already on its way out
        managed = instance is not None and instance.kind != USER_PROVIDED
        never_made = binding.last_operation.get("state") == "failed" and (
            binding.last_operation.get("type") == "create"
        )
        if instance is not None:
            events.record_service(
                session,
                type=f"audit.service_{binding.type if binding.type == 'key' else 'binding'}.delete",
                instance=instance,
                actor=user.name,
                data={"app": view["app"], "name": binding.name},
            )
        if not managed or never_made:
            session.delete(binding)
            response.status_code = 200
            view["last_operation"] = {"type": "delete", "state": "succeeded", "description": ""}
            return view
        binding.last_operation = start_operation("delete")
        view = binding_view(session, binding)
    ctx.wake(f"bindings:{guid}")
    return view
