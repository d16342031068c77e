"""Turn one validated manifest application into desired state: App, Processes, Routes.

Like `cf push`, values the manifest leaves out keep what the app already has; env vars from the
manifest are merged over the existing ones; a new app without routes gets `NAME.DOMAIN`.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.domains import check_usable
from yun.api.errors import ApiError
from yun.api.routes import set_options
from yun.manifest import AppSpec, HealthCheck
from yun.store.models import App, Domain, Process, Route, RouteMapping

DEFAULT_MEMORY_MB = 256
DEFAULT_DISK_MB = 1024
WORDS = ("brave", "calm", "eager", "fuzzy", "jolly", "lucky", "proud", "quick", "sunny", "witty")
ANIMALS = ("otter", "panda", "heron", "lynx", "koala", "bison", "gecko", "ibis", "yak", "wren")


def apply_spec(session: Session, *, space_guid: str, spec: AppSpec) -> tuple[App, bool]:
    """Create or update the app named by `spec`; returns (app, created)."""
    app = session.scalar(select(App).where(App.space_guid == space_guid, App.name == spec.name))
    created = app is None
    if app is None:
        app = App(name=spec.name, space_guid=space_guid, state="STOPPED", env={}, spec={})
        session.add(app)
        session.flush()
    env = dict(app.env)
    env.update(spec.env)
    app.env = env
    app.spec = spec.to_dict()
    _apply_processes(session, app=app, spec=spec)
    _apply_routes(session, app=app, spec=spec, created=created)
    return app, created


def _process(session: Session, app: App, type_: str) -> Process:
    proc = session.scalar(
        select(Process).where(Process.app_guid == app.guid, Process.type == type_)
    )
    if proc is None:
        proc = Process(
            app_guid=app.guid,
            type=type_,
            instances=1 if type_ == "web" else 0,
            memory_mb=DEFAULT_MEMORY_MB,
            disk_mb=DEFAULT_DISK_MB,
        )
        session.add(proc)
    return proc


def _set_given(proc: Process, **values: object) -> None:
    """Like `cf push`: what the manifest leaves out keeps its current value."""
    for name, value in values.items():
        if value is not None:
            setattr(proc, name, value)


def _apply_processes(session: Session, *, app: App, spec: AppSpec) -> None:
    web = _process(session, app, "web")
    _set_given(
        web,
        instances=spec.instances,
        memory_mb=spec.memory_mb,
        disk_mb=spec.disk_mb,
        command=spec.command,
    )
    if spec.health_check is not None:
        _apply_health(web, spec.health_check)
    _set_given(web, health_check_timeout=spec.timeout)
    if spec.no_route and spec.health_check is None and web.health_check_type == "port":
        web.health_check_type = "process"
    for item in spec.processes:
        proc = _process(session, app, item.type)
        if item.type != "web" and item.instances is None and proc.instances == 0:
            proc.instances = 1
        _set_given(
            proc,
            instances=item.instances,
            memory_mb=item.memory_mb or spec.memory_mb,
            disk_mb=item.disk_mb,
            command=item.command,
        )
        if item.health_check is not None:
            _apply_health(proc, item.health_check)
        elif item.type != "web":
            proc.health_check_type = "process"


def _apply_health(proc: Process, check: HealthCheck) -> None:
    proc.health_check_type = check.type  # the parser already reads CF's old "none" as process
    proc.health_check_endpoint = check.endpoint or "/"
    _set_given(
        proc, health_check_timeout=check.timeout, invocation_timeout=check.invocation_timeout
    )


def split_route(session: Session, route: str, *, where: str) -> tuple[str, Domain, str]:
    """`host.domain/path` → (host, domain, path), matching the longest known domain."""
    text = route.strip().lower()
    for prefix in ("http://", "https://"):
        text = text.removeprefix(prefix)
    hostpart, slash, path = text.partition("/")
    path = ("/" + path.rstrip("/")) if slash and path.strip("/") else ""
    domains = sorted(session.scalars(select(Domain)), key=lambda d: -len(d.name))
    for domain in domains:
        if hostpart == domain.name and domain.org_guid is not None:
            return "", domain, path  # a private domain's apex, e.g. example.com
        if hostpart == domain.name:
            raise ApiError(422, f"{where}: {route!r} needs a host name before {domain.name}")
        if hostpart.endswith("." + domain.name):
            if path and domain.internal:
                raise ApiError(422, f"{where}: {route!r}: internal routes take no path")
            host = hostpart[: -len(domain.name) - 1]
            if host != "*" and not all(
                part and part.replace("-", "").isalnum() for part in host.split(".")
            ):
                raise ApiError(422, f"{where}: {host!r} is not a valid host name")
            return host, domain, path
    known = ", ".join(d.name for d in domains) or "none"
    raise ApiError(422, f"{where}: {route!r} is not under a known domain ({known})")


def map_route(
    session: Session, *, app: App, host: str, domain: Domain, path: str, process_type: str = "web"
) -> Route:
    route = session.scalar(
        select(Route).where(
            Route.host == host, Route.domain_guid == domain.guid, Route.path == path
        )
    )
    check_usable(session, domain, space_guid=app.space_guid)
    if route is None:
        route = Route(host=host, domain_guid=domain.guid, path=path, space_guid=app.space_guid)
        session.add(route)
        session.flush()
    elif route.space_guid != app.space_guid:
        raise ApiError(409, f"route {host}.{domain.name}{path} belongs to another space")
    mapping = session.scalar(
        select(RouteMapping).where(
            RouteMapping.route_guid == route.guid,
            RouteMapping.app_guid == app.guid,
            RouteMapping.process_type == process_type,
        )
    )
    if mapping is None:
        session.add(
            RouteMapping(route_guid=route.guid, app_guid=app.guid, process_type=process_type)
        )
    return route


def _apply_routes(session: Session, *, app: App, spec: AppSpec, created: bool) -> None:
    mappings = list(session.scalars(select(RouteMapping).where(RouteMapping.app_guid == app.guid)))
    if spec.no_route:
        for mapping in mappings:
            session.delete(mapping)
        return
    if spec.routes:
        wanted: list[Any] = []
        for i, text in enumerate(spec.routes):
            wanted.append((*split_route(session, text, where=f"routes[{i}].route"), text))
        for host, domain, path, text in wanted:
            route = map_route(session, app=app, host=host, domain=domain, path=path)
            if options := spec.route_options.get(text):  # checked by the manifest parser
                set_options(route, options)
        return
    if mappings:
        return
    domain = session.scalar(
        select(Domain).where(Domain.internal.is_(False)).order_by(Domain.created_at)
    )
    if domain is None:
        return
    host = app.name.lower()
    if spec.random_route:
        host = f"{host}-{secrets.choice(WORDS)}-{secrets.choice(ANIMALS)}-{secrets.randbelow(100)}"
    taken = session.scalar(
        select(Route).where(Route.host == host, Route.domain_guid == domain.guid, Route.path == "")
    )
    if taken is not None and taken.space_guid != app.space_guid:
        raise ApiError(409, f"route {host}.{domain.name} is taken; use random-route: true")
    map_route(session, app=app, host=host, domain=domain, path="")
