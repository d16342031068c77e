"""Cloud Foundry's route verbs: reserve a route for a space (`yun create-route`), delete it,
map it to an app's process and unmap it (`yun map-route`, `yun unmap-route`).

A route is a host (or none: the domain itself) under a domain, with an optional path prefix;
it belongs to the space that made it, and only that space's apps may be mapped to it. A private
domain takes routes of its own org's spaces only. Every change wakes the route controller, so
HAProxy serves it (or stops serving it) within a second.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from yun.api.applying import map_route
from yun.api.auth import Ctx, CurrentUser
from yun.api.domains import check_usable, delete_route_row, find_domain
from yun.api.errors import ApiError, not_found
from yun.api.lookups import get_app, get_route
from yun.api.route_names import host_name, route_path
from yun.api.routes import route_view
from yun.store import events
from yun.store.models import Domain, Route, RouteMapping
from yun.store.queries import hostname
from yun.store.quotas import QuotaGuard

router = APIRouter()


class RouteBody(BaseModel):
    domain: str = Field(min_length=1)
    host: str = ""
    path: str = ""
    space_guid: str | None = None


class DestinationBody(BaseModel):
    app: str = Field(min_length=1, description="The app's guid.")
    process_type: str = Field(default="web", min_length=1, max_length=64)


@router.post("/v3/routes", status_code=201)
def create_route(body: RouteBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    space_guid = body.space_guid or ctx.defaults.space_guid
    host, path = host_name(body.host), route_path(body.path)
    with ctx.store.session() as session:
        domain = find_domain(session, body.domain)
        check_usable(session, domain, space_guid=space_guid)
        found = session.scalar(
            select(Route).where(
                Route.host == host, Route.domain_guid == domain.guid, Route.path == path
            )
        )
        url = f"{hostname(host, domain.name)}{path}"
        if found is not None:
            whose = "this space" if found.space_guid == space_guid else "another space"
            raise ApiError(409, f"route {url} already exists in {whose}")
        if path and domain.internal:
            raise ApiError(
                422,
                f"path: a route on the internal domain {domain.name} takes no path (its name"
                " is resolved by other apps, not served by the router)",
            )
        if not host and not path and domain.org_guid is None and not domain.internal:
            raise ApiError(422, f"a route on the shared domain {domain.name} needs a host (-n)")
        quotas = QuotaGuard(session, space_guid)
        route = Route(host=host, domain_guid=domain.guid, path=path, space_guid=space_guid)
        session.add(route)
        quotas.check()
        events.record(
            session,
            type="audit.route.create",
            app=None,
            actor=user.name,
            data={"route": url},
            space_guid=space_guid,
        )
        return route_view(session, route)


@router.delete("/v3/routes/{guid}")
def delete_route(guid: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        route = get_route(session, guid)
        view = route_view(session, route)
        delete_route_row(session, route)
        events.record(
            session,
            type="audit.route.delete",
            app=None,
            actor=user.name,
            data={"route": view["url"], "apps": view["apps"]},
        )
    ctx.wake("routes")
    return view


@router.post("/v3/routes/{guid}/destinations")
def map_destination(
    guid: str, body: DestinationBody, ctx: Ctx, user: CurrentUser
) -> dict[str, Any]:
    with ctx.store.session() as session:
        route = get_route(session, guid)
        app = get_app(session, body.app)
        quotas = QuotaGuard(session, app.space_guid)
        domain = session.get(Domain, route.domain_guid)
        if domain is None:
            raise not_found(f"domain of route {guid}")
        map_route(
            session,
            app=app,
            host=route.host,
            domain=domain,
            path=route.path,
            process_type=body.process_type,
        )
        quotas.check()
        view = route_view(session, route)
        events.record(
            session,
            type="audit.app.map-route",
            app=app,
            actor=user.name,
            data={"route": view["url"]},
        )
    ctx.wake("routes")
    return view


@router.delete("/v3/routes/{guid}/destinations/{app_guid}")
def unmap_destination(
    guid: str, app_guid: str, ctx: Ctx, user: CurrentUser, process_type: str | None = None
) -> dict[str, Any]:
    with ctx.store.session() as session:
        route = get_route(session, guid)
        app = get_app(session, app_guid)
        query = select(RouteMapping).where(
            RouteMapping.route_guid == route.guid, RouteMapping.app_guid == app.guid
        )
        if process_type is not None:
            query = query.where(RouteMapping.process_type == process_type)
        mappings = list(session.scalars(query))
        url = route_view(session, route)["url"]
        if not mappings:
            raise ApiError(404, f"route {url} is not mapped to app {app.name}")
        for mapping in mappings:
            session.delete(mapping)
        session.flush()
        events.record(
            session, type="audit.app.unmap-route", app=app, actor=user.name, data={"route": url}
        )
        view = route_view(session, route)
    ctx.wake("routes")
    return view
