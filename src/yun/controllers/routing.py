"""The route controller: mapped routes + RUNNING instances → HAProxy configuration.

Only instances the agent reports RUNNING (healthy) and that are not draining are given to the
router, so a starting, crashed or leaving instance never receives traffic; during a deployment
both revisions' instances serve. Applying is idempotent: an unchanged table is a no-op,
and HAProxy validates every new configuration before it replaces the running one. After a reload
`on_reload` runs (the platform points the access log receiver at the new worker).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from yun.controllers.runtime.managing import Result
from yun.router import Route as RouterRoute
from yun.router import Server
from yun.store.models import App, Domain, Instance, Process, Route, RouteMapping
from yun.store.session import Store


class RouteController:
    prefix = "routes"

    def __init__(
        self, *, store: Store, haproxy: Any, on_reload: Callable[[], None] | None = None
    ) -> None:
        self.store = store
        self.haproxy = haproxy
        self.on_reload = on_reload

    def table(self) -> list[RouterRoute]:
        routes: list[RouterRoute] = []
        with self.store.session() as session:
            query = (
                select(Route, Domain, RouteMapping, App)
                .join(Domain, Domain.guid == Route.domain_guid)
                .join(RouteMapping, RouteMapping.route_guid == Route.guid)
                .join(App, App.guid == RouteMapping.app_guid)
                .order_by(Route.host, Route.path)
            )
            grouped: dict[tuple[str, str, str], list[tuple[App, str]]] = {}
            for route, domain, mapping, app in session.execute(query):
                key = (f"{route.host}.{domain.name}", route.path, route.guid)
                grouped.setdefault(key, []).append((app, mapping.process_type))
            for (host, path, route_guid), targets in grouped.items():
                servers: list[Server] = []
                names: list[str] = []
                backend = ""
                for app, process_type in targets:
                    proc = session.scalar(
                        select(Process).where(
                            Process.app_guid == app.guid, Process.type == process_type
                        )
                    )
                    if proc is None:
                        continue
                    backend = backend or f"{app.guid}_{route_guid[:8]}"
                    names.append(app.name)
                    if app.state != "STARTED":
                        continue
                    for inst in session.scalars(
                        select(Instance)
                        .where(
                            Instance.process_guid == proc.guid,
                            Instance.state == "RUNNING",
                            Instance.draining_since.is_(None),
                        )
                        .order_by(Instance.version, Instance.index)
                    ):
                        if inst.address and inst.port:
                            servers.append(
                                Server(
                                    name=f"{proc.guid[:8]}-{inst.version}-{inst.index}",
                                    address=inst.address,
                                    port=inst.port,
                                )
                            )
                if not backend:
                    continue
                routes.append(
                    RouterRoute(
                        host=host,
                        path=path,
                        backend=backend,
                        app_name=",".join(names),
                        servers=servers,
                    )
                )
        return routes

    def reconcile(self, key: str) -> Result:
        table = self.table()
        if self.haproxy.apply(table) and self.on_reload is not None:
            self.on_reload()
        routed = {(server.address, server.port) for route in table for server in route.servers}
        with self.store.session() as session:
            for inst in session.scalars(select(Instance)):
                now_routed = (inst.address, inst.port) in routed and inst.state == "RUNNING"
                if inst.routed != now_routed:
                    inst.routed = now_routed
        return Result()
