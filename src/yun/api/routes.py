"""Routes: list them with their apps, and set a route's traffic policy (`yun update-route`);
TCP routes: list, create and delete them (`yun create-route --tcp`)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError, not_found
from yun.api.lookups import get_app, get_route
from yun.api.policy import CallerGrants
from yun.gateway import CHECKS
from yun.jwks import MAX_BYTES, describe_source
from yun.settings import Settings
from yun.store.models import App, Domain, Route, RouteMapping, ServiceInstance, TcpRoute
from yun.store.queries import hostname
from yun.store.quotas import QuotaGuard
from yun.store.releases import next_revision, release
from yun.store.roles import SEE, spaces_where
from yun.store.tcp_routes import TcpPortTaken, TcpRouteError, claim_tcp_route

router = APIRouter()


class RouteOptions(BaseModel):
    """What may change of a route's policy; an absent field keeps its value."""

    loadbalancing: Literal["round-robin", "least-connection", "hash"] | None = None
    hash_header: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,64}$")
    sticky: bool | None = None
    timeout: float | None = Field(default=None, gt=0, le=86400)
    https_redirect: bool | None = None
    hsts: bool | None = None
    protocol: Literal["http1", "http2"] | None = None
    # The gateway (`yun.gateway`), as written; "" takes one off.
    rate_limit: str | None = Field(default=None, max_length=32)
    max_body: str | None = Field(default=None, max_length=32)
    allow: str | None = Field(default=None, max_length=4096)
    deny: str | None = Field(default=None, max_length=4096)
    jwt_jwks: str | None = Field(default=None, max_length=MAX_BYTES)
    jwt_claims: str | None = Field(default=None, max_length=1024)
    cors: str | None = Field(default=None, max_length=8192)
    route_service: str | None = Field(default=None, max_length=2048)
    circuit_breaker: str | None = Field(default=None, max_length=32)
    retries: str | None = Field(default=None, max_length=8)
    api_keys: bool | None = None  # requests need one of the route's API keys (`api_keys.py`)


def set_options(route: Route, given: dict[str, Any]) -> None:
    """Merge `given` (checked values: RouteOptions', or a manifest's) over the route's policy;
    a hash without a header is refused (422), and so is a gateway option that cannot be read
    (an empty one is taken off)."""
    options = dict(route.options or {})
    for key, check in CHECKS.items():
        value = given.get(key)
        if value is None:
            continue
        if not str(value).strip():
            options.pop(key, None)
            given = {k: v for k, v in given.items() if k != key}
            continue
        try:
            check(str(value))
        except ValueError as exc:
            raise ApiError(422, f"{key}: {exc}") from None
    options.update(given)
    if options.get("loadbalancing") != "hash":
        options.pop("hash_header", None)
    elif not options.get("hash_header"):
        raise ApiError(422, "loadbalancing=hash needs hash_header, a header name like X-User")
    route.options = options


def route_url(session: Session, route: Route) -> str:
    """The route as users write it: host.domain/path."""
    domain = session.get(Domain, route.domain_guid)
    return f"{hostname(route.host, domain.name) if domain else '?'}{route.path}"


def route_view(session: Session, route: Route) -> dict[str, Any]:
    domain = session.get(Domain, route.domain_guid)
    bound = (
        session.get(ServiceInstance, route.route_service_guid) if route.route_service_guid else None
    )
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
        "url": route_url(session, route),
        "host": route.host,
        "domain": domain.name if domain else "",
        "path": route.path,
        "space_guid": route.space_guid,
        "apps": apps,
        "options": _shown(
            {"loadbalancing": "round-robin", "sticky": True, **(route.options or {})}
        ),
        "route_service_instance": bound.name if bound else None,
    }


def _shown(options: dict[str, Any]) -> dict[str, Any]:
    """Options as callers see them: a given JWKS as its keys' ids (never a shared secret)."""
    if options.get("jwt_jwks"):
        options["jwt_jwks"] = describe_source(str(options["jwt_jwks"]))
    return options


@router.get("/v3/routes")
def list_routes(
    ctx: Ctx,
    grants: CallerGrants,
    domain: str | None = None,
    host: str | None = None,
    path: str | None = None,
    space_guid: str | None = None,
) -> dict[str, Any]:
    """Every route the caller may see, or those of `domain` (and `host`, `path`: `yun
    check-route`), or those of one space (`yun routes`)."""
    with ctx.store.session() as session:
        query = select(Route).order_by(Route.host, Route.path)
        visible = spaces_where(session, grants, SEE)
        if visible is not None:
            query = query.where(Route.space_guid.in_(visible))
        if space_guid is not None:
            query = query.where(Route.space_guid == space_guid)
        if domain is not None:
            query = query.join(Domain, Domain.guid == Route.domain_guid).where(
                Domain.name == domain.strip().lower()
            )
        if host is not None:
            query = query.where(Route.host == host.strip().lower())
        if path is not None:
            query = query.where(Route.path == path.strip().rstrip("/"))
        rows = session.scalars(query)
        return {"resources": [route_view(session, route) for route in rows]}


@router.patch("/v3/routes/{guid}")
def update_route(guid: str, body: RouteOptions, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        route = get_route(session, guid)
        given = body.model_dump(exclude_none=True)
        set_options(route, given)
        if "route_service" in given:  # the route's own now, not a bound service's
            route.route_service_guid = None
        session.flush()
        view = route_view(session, route)
    ctx.wake("routes")
    return view


class TcpRouteBody(BaseModel):
    """A new TCP route: a router port for one named port of an app's instances."""

    app: str = Field(min_length=1, description="The app's guid.")
    name: str = Field(default="tcp", min_length=1, max_length=64)
    port: int | None = Field(default=None, ge=1, le=65535)
    process_type: str = Field(default="web", min_length=1, max_length=64)


def tcp_route_view(session: Session, route: TcpRoute, settings: Settings) -> dict[str, Any]:
    app = session.get(App, route.app_guid)
    return {
        "guid": route.guid,
        "url": f"tcp://{settings.router_bind}:{route.port}",
        "port": route.port,
        "name": route.name,
        "app": app.name if app else "",
        "app_guid": route.app_guid,
        "process_type": route.process_type,
    }


@router.get("/v3/tcp_routes")
def list_tcp_routes(ctx: Ctx, grants: CallerGrants) -> dict[str, Any]:
    with ctx.store.session() as session:
        query = select(TcpRoute).order_by(TcpRoute.port)
        visible = spaces_where(session, grants, SEE)
        if visible is not None:
            query = query.where(TcpRoute.space_guid.in_(visible))
        rows = session.scalars(query)
        return {"resources": [tcp_route_view(session, route, ctx.settings) for route in rows]}


@router.post("/v3/tcp_routes", status_code=201)
def create_tcp_route(body: TcpRouteBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, body.app)
        quotas = QuotaGuard(session, app.space_guid)
        try:
            route = claim_tcp_route(
                session,
                app=app,
                name=body.name,
                port=body.port,
                port_range=ctx.settings.tcp_ports,
                process_type=body.process_type,
            )
        except TcpPortTaken as exc:
            raise ApiError(409, str(exc)) from exc
        except TcpRouteError as exc:
            raise ApiError(422, str(exc)) from exc
        quotas.check()
        view = tcp_route_view(session, route, ctx.settings)
        view["deployment"] = roll_out_ports(session, app=app, actor=user.name)
    for key in ("deployments", "instances", "routes"):
        ctx.wake(key)
    return view


@router.delete("/v3/tcp_routes/{guid}")
def delete_tcp_route(guid: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        route = session.get(TcpRoute, guid)
        if route is None:
            raise not_found(f"TCP route {guid}")
        app = session.get(App, route.app_guid)
        session.delete(route)
        session.flush()
        deployment = roll_out_ports(session, app=app, actor=user.name) if app else None
    for key in ("deployments", "instances", "routes"):
        ctx.wake(key)
    return {"deleted": guid, "deployment": deployment}


def roll_out_ports(session: Session, *, app: App, actor: str) -> str | None:
    """A started app's instances listen on their TCP routes' ports from a new revision on,
    rolled out like any other (no downtime); returns the deployment's guid, if one started."""
    if app.state != "STARTED" or app.revision_guid is None:
        return None
    revision = next_revision(session, app=app, actor=actor, description="tcp routes", always=False)
    if revision is None or revision.guid == app.revision_guid:
        return None
    deployment = release(session, app=app, revision=revision, actor=actor)
    return deployment.guid if deployment else None
