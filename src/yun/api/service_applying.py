"""A manifest's `services:` turned into bindings (and, in Stackato's `{name: type}` form, into
the services themselves).

Each name must be a service instance of the app's space, or, when the manifest gives its type,
one is created: `harbor` makes a TCP route (Stackato's harbor), any other type is an offering of
the marketplace (e.g. `postgresql`, `redis`), created with its first plan. Services the app is
not bound to yet get a binding; bindings the manifest no longer lists stay, as with `cf push`.
A name that cannot be resolved fails the whole push with one line naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.errors import ApiError
from yun.manifest import AppSpec
from yun.store import events
from yun.store.models import App, ServiceBinding, ServiceInstance, ServiceOffering, ServicePlan
from yun.store.services import USER_PROVIDED, start_operation
from yun.store.tcp_routes import TcpRouteError, claim_tcp_route

HARBOR = "harbor"


@dataclass
class AppliedServices:
    created: list[str] = field(default_factory=list)
    """Guids of service instances created for this push (their controller has work)."""
    bindings: list[str] = field(default_factory=list)
    """Guids of bindings made for this push that a broker still has to complete."""
    tcp_routes: list[str] = field(default_factory=list)


def apply_services(
    session: Session, *, app: App, spec: AppSpec, tcp_ports: tuple[int, int], actor: str
) -> AppliedServices:
    applied = AppliedServices()
    for index, name in enumerate(spec.services):
        where = f"services[{index}] ({name})"
        kind = spec.service_types.get(name)
        if kind == HARBOR:
            try:
                route = claim_tcp_route(
                    session, app=app, name=name, port=None, port_range=tcp_ports
                )
            except TcpRouteError as exc:
                raise ApiError(409, f"{where}: {exc}") from None
            applied.tcp_routes.append(route.guid)
            continue
        instance = session.scalar(
            select(ServiceInstance).where(
                ServiceInstance.space_guid == app.space_guid, ServiceInstance.name == name
            )
        )
        if instance is None:
            if kind is None:
                raise ApiError(
                    422,
                    f"{where}: no service {name} in this space; create it first"
                    " (`yun create-service OFFERING PLAN NAME`)",
                )
            instance = _create(session, name=name, offering=kind, app=app, actor=actor, where=where)
            applied.created.append(instance.guid)
        binding = _bind(session, instance=instance, app=app, actor=actor, where=where)
        if binding is not None and binding.last_operation.get("state") != "succeeded":
            applied.bindings.append(binding.guid)
    return applied


def _create(
    session: Session, *, name: str, offering: str, app: App, actor: str, where: str
) -> ServiceInstance:
    found = list(session.scalars(select(ServiceOffering).where(ServiceOffering.name == offering)))
    if not found:
        raise ApiError(422, f"{where}: no offering {offering} in the marketplace to create it from")
    plan = session.scalar(
        select(ServicePlan)
        .where(ServicePlan.offering_guid == found[0].guid)
        .order_by(ServicePlan.created_at, ServicePlan.name)
        .limit(1)
    )
    if plan is None:
        raise ApiError(422, f"{where}: offering {offering} has no plans")
    instance = ServiceInstance(
        name=name,
        space_guid=app.space_guid,
        plan_guid=plan.guid,
        last_operation=start_operation("create"),
        created_by=actor,
    )
    session.add(instance)
    session.flush()
    events.record_service(
        session,
        type="audit.service_instance.create_request",
        instance=instance,
        actor=actor,
        data={"by_manifest_of": app.name, "plan": plan.name},
    )
    return instance


def _bind(
    session: Session, *, instance: ServiceInstance, app: App, actor: str, where: str
) -> ServiceBinding | None:
    """The app's binding to `instance`, made now if it has none; None when it had one."""
    existing = session.scalar(
        select(ServiceBinding).where(
            ServiceBinding.service_instance_guid == instance.guid,
            ServiceBinding.type == "app",
            ServiceBinding.app_guid == app.guid,
        )
    )
    if existing is not None:
        return None
    op = instance.last_operation
    if op.get("state") == "failed" and op.get("type") == "create":
        raise ApiError(
            422, f"{where}: the service failed to be created: {op.get('description') or '?'}"
        )
    binding = ServiceBinding(
        service_instance_guid=instance.guid,
        type="app",
        app_guid=app.guid,
        name=app.name,
        created_by=actor,
    )
    if instance.kind == USER_PROVIDED:
        binding.credentials = dict(instance.credentials)
        binding.syslog_drain_url = instance.syslog_drain_url
        binding.last_operation = {"type": "create", "state": "succeeded", "description": ""}
    else:
        binding.last_operation = start_operation("create")
    session.add(binding)
    session.flush()
    return binding
