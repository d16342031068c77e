"""Read-only queries shared by the API and the controllers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.store.models import Domain, Route, RouteMapping


def mapped_routes(session: Session, app_guid: str) -> list[tuple[Route, Domain]]:
    """Every route mapped to the app with its domain, oldest first."""
    query = (
        select(Route, Domain)
        .join(RouteMapping, RouteMapping.route_guid == Route.guid)
        .join(Domain, Domain.guid == Route.domain_guid)
        .where(RouteMapping.app_guid == app_guid)
        .order_by(Route.created_at)
    )
    return [(route, domain) for route, domain in session.execute(query)]


def route_urls(session: Session, app_guid: str) -> list[str]:
    """`host.domain/path` of every route mapped to the app, oldest first."""
    return [
        f"{hostname(route.host, domain.name)}{route.path}"
        for route, domain in mapped_routes(session, app_guid)
    ]


def hostname(host: str, domain: str) -> str:
    """The name a route answers to: `host.domain`, or the domain itself for a route without a
    host (a custom domain's apex, `yun map-route app example.com`)."""
    return f"{host}.{domain}" if host else domain
