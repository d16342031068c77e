"""Route services bound as Cloud Foundry binds them: a user-provided service made with a
route service URL (`yun create-user-provided-service gate -r https://gate.example.com`) is
bound to a route of its space (`yun bind-route-service DOMAIN gate --hostname api`), which then
sends its requests through it (the route's `route_service` option, `router/config.py`), and
unbound again (`yun unbind-route-service`). Changing the service's URL moves its routes with
it; a service that is a route's route service is not deleted.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError
from yun.api.lookups import get_route
from yun.api.routes import route_url, route_view, set_options
from yun.gateway import CHECKS
from yun.store import events
from yun.store.models import Route, ServiceInstance

router = APIRouter()
OPTION = "route_service"


class RouteServiceBody(BaseModel):
    service_instance: str = Field(min_length=1, max_length=255, description="Its name")


def checked_route_service(url: str) -> str:
    """A user-provided service's route service URL as given ("" for none), or a 422."""
    url = url.strip()
    if url:
        try:
            CHECKS[OPTION](url)
        except ValueError as exc:
            raise ApiError(422, f"route_service_url: {exc}") from None
    return url


def bound_routes(session: Session, instance: ServiceInstance) -> list[Route]:
    query = select(Route).where(Route.route_service_guid == instance.guid)
    return list(session.scalars(query.order_by(Route.host, Route.path)))


@router.put("/v3/routes/{guid}/route_service")
def bind_route_service(
    guid: str, body: RouteServiceBody, ctx: Ctx, user: CurrentUser
) -> dict[str, Any]:
    """Send the route's requests through a user-provided service of its space first."""
    with ctx.store.session() as session:
        route = get_route(session, guid)
        url = route_url(session, route)
        instance = session.scalar(
            select(ServiceInstance).where(
                ServiceInstance.space_guid == route.space_guid,
                ServiceInstance.name == body.service_instance,
            )
        )
        if instance is None:
            raise ApiError(
                422,
                f"service_instance: {body.service_instance} is not a service of the route's"
                " space (see `yun services`)",
            )
        if not instance.route_service_url:
            raise ApiError(
                422,
                f"service_instance: {instance.name} has no route service URL (make one with"
                f" `yun create-user-provided-service NAME -r URL`)",
            )
        if route.route_service_guid not in (None, instance.guid):
            other = session.get(ServiceInstance, route.route_service_guid)
            raise ApiError(
                409,
                f"route {url} is bound to route service {other.name if other else '?'};"
                " unbind it first",
            )
        view = _bind(session, route, instance, bound=True, actor=user.name)
    ctx.wake("routes")
    return view


@router.delete("/v3/routes/{guid}/route_service")
def unbind_route_service(guid: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """Let the route's requests reach its apps directly again."""
    with ctx.store.session() as session:
        route = get_route(session, guid)
        url = route_url(session, route)
        instance = (
            session.get(ServiceInstance, route.route_service_guid)
            if route.route_service_guid
            else None
        )
        if instance is None:
            raise ApiError(422, f"route {url} has no route service bound")
        view = _bind(session, route, instance, bound=False, actor=user.name)
    ctx.wake("routes")
    return view


def _bind(
    session: Session, route: Route, instance: ServiceInstance, *, bound: bool, actor: str
) -> dict[str, Any]:
    """Bind `instance` to `route` (or unbind it), audited; the route as callers see it."""
    set_options(route, {OPTION: instance.route_service_url if bound else ""})
    route.route_service_guid = instance.guid if bound else None
    events.record(
        session,
        type=f"audit.route.{'bind' if bound else 'unbind'}_route_service",
        app=None,
        actor=actor,
        data={"route": route_url(session, route), "service_instance": instance.name},
        space_guid=route.space_guid,
    )
    session.flush()
    return route_view(session, route)
