"""Domains, as Cloud Foundry has them: shared ones every org may route on (`YUN_DOMAIN` is the
first and the default), private ones only their org may (a team's own `example.com`), and
internal ones for app-to-app names that the router does not serve.

A domain that routes still use is not deleted unless the request says `force` (`yun
delete-shared-domain -f`), and then its routes go with it; the default domain is never deleted.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError, not_found
from yun.api.policy import CallerGrants
from yun.api.route_names import domain_name
from yun.store import events
from yun.store.models import Domain, Org, Route, RouteMapping, Space

router = APIRouter()


class DomainBody(BaseModel):
    name: str
    org: str | None = None  # an org's name: a private domain of that org
    internal: bool = False


def domain_view(session: Session, domain: Domain, *, default_guid: str) -> dict[str, Any]:
    org = session.get(Org, domain.org_guid) if domain.org_guid else None
    routes = session.scalar(
        select(func.count()).select_from(Route).where(Route.domain_guid == domain.guid)
    )
    return {
        "guid": domain.guid,
        "name": domain.name,
        "type": "private" if org else "shared",
        "org": org.name if org else None,
        "internal": domain.internal,
        "default": domain.guid == default_guid,
        "routes": int(routes or 0),
    }


def find_domain(session: Session, name: str) -> Domain:
    domain = session.scalar(select(Domain).where(Domain.name == name.strip().lower()))
    if domain is None:
        known = ", ".join(sorted(session.scalars(select(Domain.name)))) or "none"
        raise ApiError(404, f"domain {name!r} not found (domains: {known})")
    return domain


def check_usable(session: Session, domain: Domain, *, space_guid: str) -> None:
    """A private domain is for its own org's spaces only."""
    if domain.org_guid is None:
        return
    space = session.get(Space, space_guid)
    if space is None or space.org_guid != domain.org_guid:
        org = session.get(Org, domain.org_guid)
        raise ApiError(403, f"domain {domain.name} is private to org {org.name if org else '?'}")


def delete_route_row(session: Session, route: Route) -> None:
    """A route and what maps apps to it."""
    for mapping in session.scalars(
        select(RouteMapping).where(RouteMapping.route_guid == route.guid)
    ):
        session.delete(mapping)
    session.flush()  # before the route's own delete, which would cascade to them
    session.delete(route)


@router.get("/v3/domains")
def list_domains(ctx: Ctx, grants: CallerGrants) -> dict[str, Any]:
    """The shared domains, and the private ones of the orgs the caller is in."""
    with ctx.store.session() as session:
        domains = [
            d
            for d in session.scalars(select(Domain).order_by(Domain.name))
            if d.org_guid is None or grants.admin or d.org_guid in grants.orgs()
        ]
        default = ctx.defaults.domain_guid
        return {"resources": [domain_view(session, d, default_guid=default) for d in domains]}


@router.post("/v3/domains", status_code=201)
def create_domain(body: DomainBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    name = domain_name(body.name)
    with ctx.store.session() as session:
        org_guid: str | None = None
        if body.org is not None:
            org = session.scalar(select(Org).where(Org.name == body.org.strip()))
            if org is None:
                raise not_found(f"org {body.org!r}")
            org_guid = org.guid
        if session.scalar(select(Domain).where(Domain.name == name)) is not None:
            raise ApiError(409, f"domain {name} already exists")
        domain = Domain(name=name, org_guid=org_guid, internal=body.internal)
        session.add(domain)
        session.flush()
        events.record(
            session,
            type="audit.domain.create",
            app=None,
            actor=user.name,
            data={"domain": name, "org": body.org, "internal": body.internal},
        )
        return domain_view(session, domain, default_guid=ctx.defaults.domain_guid)


@router.delete("/v3/domains/{name}")
def delete_domain(name: str, ctx: Ctx, user: CurrentUser, force: bool = False) -> dict[str, Any]:
    with ctx.store.session() as session:
        domain = find_domain(session, name)
        if domain.guid == ctx.defaults.domain_guid:
            raise ApiError(422, f"{domain.name} is the default domain (YUN_DOMAIN); it stays")
        view = domain_view(session, domain, default_guid=ctx.defaults.domain_guid)
        if view["routes"] and not force:
            raise ApiError(
                409,
                f"domain {domain.name} has {view['routes']} route(s); delete them first,"
                " or delete the domain with its routes (-f)",
            )
        for route in session.scalars(select(Route).where(Route.domain_guid == domain.guid)):
            delete_route_row(session, route)
        session.flush()  # the routes first: the domain's own delete would cascade to them
        session.delete(domain)
        events.record(
            session,
            type="audit.domain.delete",
            app=None,
            actor=user.name,
            data={"domain": domain.name, "routes": view["routes"]},
        )
    ctx.wake("routes")
    return view
