"""Routes: list them with their apps, and set a route's traffic policy (`yun update-route`)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError, not_found
from yun.store.models import App, Domain, Route, RouteMapping

router = APIRouter()


class RouteOptions(BaseModel):
    """What may change of a route's policy; an absent field keeps its value."""

    loadbalancing: Literal["round-robin", "least-connection", "hash"] | None = None
    hash_header: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,64}$")
    sticky: bool | None = None
    timeout: float | None = Field(default=None, gt=0, le=86400)


def route_view(session: Session, route: Route) -> dict[str, Any]:
    domain = session.get(Domain, route.domain_guid)
    apps = [
        app.name
        for app in session.scalars(
            select(App)
            .join(RouteMapping, RouteMapping.app_guid == App.guid)
            .where(RouteMapping.route_guid == route.guid)
        )
    ]
    return {
        "guid": route.guid,
        "url": f"{route.host}.{domain.name if domain else '?'}{route.path}",
        "host": route.host,
        "domain": domain.name if domain else "",
        "path": route.path,
        "apps": apps,
        "options": {"loadbalancing": "round-robin", "sticky": True, **(route.options or {})},
    }


@router.get("/v3/routes")
def list_routes(ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        rows = session.scalars(select(Route).order_by(Route.host, Route.path))
        return {"resources": [route_view(session, route) for route in rows]}


@router.patch("/v3/routes/{guid}")
def update_route(guid: str, body: RouteOptions, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        route = session.get(Route, guid)
        if route is None:
            raise not_found(f"route {guid}")
        options = dict(route.options or {})
        options.update(body.model_dump(exclude_none=True))
        if options.get("loadbalancing") != "hash":
            options.pop("hash_header", None)
        elif not options.get("hash_header"):
            raise ApiError(422, "loadbalancing=hash needs hash_header, a header name like X-User")
        route.options = options
        session.flush()
        view = route_view(session, route)
    ctx.wake("routes")
    return view
