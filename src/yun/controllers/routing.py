"""The route controller: mapped routes + RUNNING instances → HAProxy configuration.

Only instances the agent reports RUNNING (healthy) and that are not draining are given to the
router, so a starting, crashed or leaving instance never receives traffic; during a deployment
both revisions' instances serve. An app that may scale to zero and has no instance serving gets
the activator as its only server (see `yun.server.activator`). Applying is idempotent: an
unchanged table is a no-op, and HAProxy validates every new configuration before it replaces
the running one. After a reload `on_reload` runs (the platform points the access log receiver
at the new worker).

TCP routes (`TcpRoute` rows) go the same way: each becomes a router port whose connections
reach the instances of its app's process on the port they report under the route's name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from sqlalchemy import String, select, type_coerce

from yun.agent.network.policies import PolicyTable
from yun.controllers.discovery import internal_names
from yun.controllers.network_policies import PolicyReader
from yun.controllers.runtime.managing import Result
from yun.discovery import Names
from yun.gateway import CHECKS
from yun.jwks import JwksCache, given_keys, parse_claims
from yun.kube import DRIVER as KUBERNETES
from yun.router import KeyLimits, Policy, ReloadHeld, RouterError, Server, key_entry
from yun.router import Route as RouterRoute
from yun.router import TcpRoute as RouterTcpRoute
from yun.router.config import JWT_CACHE_CLEAR, MAX_WEIGHT
from yun.store.models import (
    AcmeChallenge,
    ApiKey,
    ApiPlan,
    App,
    Deployment,
    Domain,
    Instance,
    Process,
    Revision,
    Route,
    RouteMapping,
    TcpRoute,
)
from yun.store.queries import hostname
from yun.store.releases import ACTIVE
from yun.store.session import Store
from yun.tls import Certificate

log = logging.getLogger(__name__)


class RouteController:
    prefix = "routes"
    reload_window = 0.2  # seconds: at most one reload in each

    def __init__(
        self,
        *,
        store: Store,
        haproxy: Any,
        on_reload: Callable[[], None] | None = None,
        activator: tuple[str, int] | None = None,
        certificates: Callable[[], Sequence[Certificate]] | None = None,
        names: Callable[[Sequence[str], Names], None] | None = None,
        policies: Callable[[PolicyTable], None] | None = None,
        jwks: JwksCache | None = None,
    ) -> None:
        """`names(zones, names)`, when given, is told the internal domains and the instances
        behind each name under them (`discovery.internal_names`) on every pass; `policies`, what
        network policies and service bindings let instances reach (`network_policies`)."""
        self.certificates = certificates  # what HTTPS serves, when the router has a port for it
        self.names = names
        self.policies = policies
        self.jwks = jwks or JwksCache()  # the keys of JWKS addresses routes name
        self._policy_reader = PolicyReader(store)
        self.store = store
        self.haproxy = haproxy
        self.on_reload = on_reload
        self.activator = activator
        self._last_reload = -self.reload_window
        self._caches_cleared = time.monotonic()

    def _weights(self, session: Any, deployment: Deployment | None) -> tuple[int, int, int] | None:
        """(old version, new version, percent to new) while a deployment splits traffic."""
        if deployment is None or deployment.weight is None:
            return None
        old = session.get(Revision, deployment.from_revision_guid or "")
        new = session.get(Revision, deployment.revision_guid)
        if old is None or new is None:
            return None
        return old.version, new.version, deployment.weight

    def table(self) -> list[RouterRoute]:
        """Every mapped route with its serving instances. Read in one snapshot, with a query
        per kind of row (not per route): with hundreds of routes, the walk that the periodic
        resync makes stays a few milliseconds long."""
        routes: list[RouterRoute] = []
        with self.store.snapshot() as session:  # routes, mappings and instances of one commit
            # Plain rows, not ORM objects: with thousands of routes, building objects would
            # be most of the pass.
            query = (
                select(
                    Route.guid,
                    Route.host,
                    Route.path,
                    type_coerce(Route.options, String).label("options"),
                    Domain.name.label("domain"),
                    RouteMapping.process_type,
                    RouteMapping.app_guid,
                )
                .join(Domain, Domain.guid == Route.domain_guid)
                .join(RouteMapping, RouteMapping.route_guid == Route.guid)
                .where(Domain.internal.is_(False))  # app-to-app names: not the router's
                .order_by(Route.host, Route.path)
            )
            mapped = session.execute(query).all()
            # Subqueries, not lists of thousands of guids: binding those cost more than reading.
            mapped_apps = select(RouteMapping.app_guid)
            apps = {
                row.guid: _App(row.guid, row.name, row.state, _json(row.autoscale))
                for row in session.execute(
                    select(App.guid, App.name, App.state, type_coerce(App.autoscale, String)).where(
                        App.guid.in_(mapped_apps)
                    )
                )
            }
            grouped: dict[tuple[str, str, str], list[tuple[_App, str]]] = {}
            domains: set[str] = set()  # of the routes served: a route service on one is local
            route_options: dict[str, dict[str, Any]] = {}
            for row in mapped:
                if row.app_guid not in apps:
                    continue
                route_options[row.guid] = _json(row.options) or {}
                key = (hostname(row.host, row.domain), row.path, row.guid)
                domains.add(row.domain)
                grouped.setdefault(key, []).append((apps[row.app_guid], row.process_type))
            procs = {
                (proc.app_guid, proc.type): proc
                for proc in session.execute(
                    select(Process.guid, Process.app_guid, Process.type, Process.instances).where(
                        Process.app_guid.in_(mapped_apps)
                    )
                )
            }
            serving: dict[str, list[Any]] = {}
            for inst in session.execute(
                select(
                    Instance.process_guid,
                    Instance.version,
                    Instance.index,
                    Instance.address,
                    Instance.port,
                )
                .where(
                    Instance.process_guid.in_(
                        select(Process.guid).where(Process.app_guid.in_(mapped_apps))
                    ),
                    Instance.state == "RUNNING",
                    Instance.draining_since.is_(None),
                    Instance.driver != KUBERNETES,  # the cluster routes to its pods itself
                )
                .order_by(Instance.version, Instance.index)
            ):
                serving.setdefault(inst.process_guid, []).append(inst)
            deployments: dict[str, Deployment] = {}
            for deployment in session.scalars(
                select(Deployment)
                .where(Deployment.app_guid.in_(mapped_apps), Deployment.state.in_(ACTIVE))
                .order_by(Deployment.created_at)
            ):
                deployments[deployment.app_guid] = deployment  # the newest, as active_deployment
            for (host, path, route_guid), targets in grouped.items():
                servers: list[Server] = []
                names: list[str] = []
                backend = ""
                capacity = 0
                options = route_options[route_guid]
                policy = policy_of(options, self.jwks, scope=route_guid)
                if policy.route_service:
                    policy = replace(policy, route_service_local=_local(policy, domains))
                for app, process_type in targets:
                    proc = procs.get((app.guid, process_type))
                    if proc is None:
                        continue
                    # Routes to the same processes with the same options share a backend: a
                    # new hostname for an app is then a line in the host map, not a reload.
                    backend = backend or f"{app.guid}_{_digest(targets, options, route_guid)}"
                    names.append(app.name)
                    if app.state != "STARTED":
                        continue
                    capacity += _capacity(
                        app, proc, len(serving.get(proc.guid, [])), app.guid in deployments
                    )
                    found = [
                        (inst, f"{proc.guid[:8]}-{inst.version}-{inst.index}")
                        for inst in serving.get(proc.guid, [])
                        if inst.address and inst.port
                    ]
                    weights = self._weights(session, deployments.get(app.guid))
                    servers += _weighted(found, weights)
                    if not found and self.activator and (app.autoscale or {}).get("min") == 0:
                        # Scaled to zero (or waking up): the activator holds the requests.
                        host_, port_ = self.activator
                        servers.append(Server(f"activator-{app.guid[:8]}", host_, port_))
                if not backend:
                    continue
                routes.append(
                    RouterRoute(
                        host=host,
                        path=path,
                        backend=backend,
                        app_name=",".join(names),
                        servers=servers,
                        policy=policy,
                        capacity=capacity,
                    )
                )
        return routes

    def tcp_table(self) -> list[RouterTcpRoute]:
        """Every TCP route with the RUNNING, non-draining instances of its app's process that
        listen on the route's port (those started before the route existed do not)."""
        routes: list[RouterTcpRoute] = []
        with self.store.snapshot() as session:
            query = (
                select(TcpRoute, App)
                .join(App, App.guid == TcpRoute.app_guid)
                .order_by(TcpRoute.port)
            )
            for tcp, app in session.execute(query):
                servers: list[Server] = []
                proc = session.scalar(
                    select(Process).where(
                        Process.app_guid == app.guid, Process.type == tcp.process_type
                    )
                )
                if proc is not None and app.state == "STARTED":
                    for inst in session.scalars(
                        select(Instance)
                        .where(
                            Instance.process_guid == proc.guid,
                            Instance.state == "RUNNING",
                            Instance.draining_since.is_(None),
                            Instance.driver != KUBERNETES,
                        )
                        .order_by(Instance.version, Instance.index)
                    ):
                        port = (inst.ports or {}).get(tcp.name)
                        if inst.address and port:
                            servers.append(
                                Server(
                                    name=f"{proc.guid[:8]}-{inst.version}-{inst.index}",
                                    address=inst.address,
                                    port=int(port),
                                    instance=str(inst.index),
                                )
                            )
                capacity = 0
                if proc is not None and app.state == "STARTED":
                    capacity = _capacity(app, proc, len(servers), deploying=False)
                routes.append(
                    RouterTcpRoute(
                        port=tcp.port,
                        backend=tcp.guid,
                        app_name=app.name,
                        servers=servers,
                        capacity=capacity,
                    )
                )
        return routes

    def reconcile(self, key: str) -> Result:
        if self.names is not None:  # before the router's apply, which a reload window may hold
            self.names(*internal_names(self.store))
        if self.policies is not None:
            self.policies(self._policy_reader.read())
        table = self.table()
        tcp_table = self.tcp_table()
        # Only given when there are TCP routes, so a router that knows no TCP routes still fits.
        extra: dict[str, Any] = {"tcp_routes": tcp_table} if tcp_table else {}
        if self.certificates is not None:
            extra["certificates"] = self.certificates()
        with self.store.session() as session:
            answers = {c.token: c.key_authorization for c in session.scalars(select(AcmeChallenge))}
            keyed = {route.policy.api_keys for route in table if route.policy.api_keys}
            if keyed:  # routes that ask for API keys: the router's key map
                extra["api_keys"] = api_keys(session, keyed)
        if answers:  # an ACME order is being validated: the router answers its challenges
            extra["challenges"] = answers
        # Reloads are at most one per window: the first change reloads at once, changes right
        # after it (a push mapping several routes, a script creating hundreds) wait for the
        # window's end and then go in one reload. The runtime API is never held.
        now = time.monotonic()
        wait = self._last_reload + self.reload_window - now
        try:
            reloaded = self.haproxy.apply(table, reload=wait <= 0, **extra)
        except ReloadHeld:
            return Result(requeue_after=max(0.01, wait))
        if reloaded:
            self._last_reload = time.monotonic()
        if reloaded and self.on_reload is not None:
            self.on_reload()
        routed = {(server.address, server.port) for route in table for server in route.servers}
        routed |= {(s.address, s.port) for route in tcp_table for s in route.servers}
        with self.store.session() as session:
            for inst in session.scalars(select(Instance)):
                served = {(inst.address, inst.port)}
                served |= {(inst.address, port) for port in (inst.ports or {}).values()}
                now_routed = bool(served & routed) and inst.state == "RUNNING"
                if inst.driver == KUBERNETES:  # a Ready pod the cluster sends traffic to
                    now_routed = inst.state == "RUNNING" and inst.draining_since is None
                if inst.routed != now_routed:
                    inst.routed = now_routed
        if time.monotonic() - self._caches_cleared >= JWT_CACHE_CLEAR:
            self._caches_cleared = time.monotonic()
            try:
                self.haproxy.clear_jwt_caches()
            except RouterError as exc:
                log.warning("router: the JWT caches were not cleared: %s", exc)
        # A JWKS address is fetched again when due (and the router told of new keys).
        due = self.jwks.next_due()
        return Result(requeue_after=None if due is None else due + 0.01)


class _App(NamedTuple):
    guid: str
    name: str
    state: str
    autoscale: dict[str, Any] | None


def _json(value: Any) -> Any:
    """A JSON column read past SQLAlchemy's decoding: SQLite's driver gives text (most of it
    empty, and decoding thousands of "null"s was most of the read), PostgreSQL's gives it
    decoded already."""
    if not isinstance(value, str):
        return value or None
    return json.loads(value) if value not in ("null", "{}") else None


def _digest(targets: list[tuple[_App, str]], options: dict[str, Any], route_guid: str) -> str:
    """A short digest of what a route's backend serves and how: its processes and options (and
    the route, when it asks for API keys: those are its own, so is its backend)."""
    text = repr(sorted((app.guid, process_type) for app, process_type in targets))
    if options:  # most routes have none: no JSON to make for them
        text += json.dumps(options, sort_keys=True)
    if options.get("api_keys"):
        text += route_guid
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _capacity(app: Any, proc: Any, serving: int, deploying: bool) -> int:
    """The most instances of `proc` the router should have server slots for: its scale (or
    its autoscaler's maximum), both revisions' during a deployment, one more for the activator
    of an app that scales to zero."""
    most = max(int(proc.instances), int((app.autoscale or {}).get("max") or 0))
    if deploying:
        most *= 2
    return max(most, serving) + (1 if (app.autoscale or {}).get("min") == 0 else 0)


def _local(policy: Policy, domains: set[str]) -> bool:
    """Whether a route service's URL is a route of this platform (one of `domains`)."""
    host = policy.route_service.partition("://")[2].split("/")[0].split(":")[0].lower()
    return any(host == domain or host.endswith(f".{domain}") for domain in domains)


def api_keys(session: Any, route_guids: set[str]) -> dict[str, KeyLimits]:
    """The key map entries of the routes' API keys, each with its plan's limits."""
    found: dict[str, KeyLimits] = {}
    rows = session.execute(
        select(ApiKey.route_guid, ApiKey.digest, ApiPlan)
        .outerjoin(ApiPlan, ApiPlan.guid == ApiKey.plan_guid)
        .where(ApiKey.route_guid.in_(route_guids))
    )
    for route_guid, digest, plan in rows:
        limits = KeyLimits()
        if plan is not None:
            limits = KeyLimits(plan.rate_limit, plan.rate_window, plan.quota, plan.quota_window)
        found[key_entry(route_guid, digest)] = limits
    return found


def split_weights(old: int, new: int, percent: int) -> tuple[int, int]:
    """Server weights (old, new) so that `new` servers get `percent` of all requests and `old`
    ones the rest, exactly where HAProxy's weights allow it (whole numbers up to 256)."""
    if new == 0 or percent <= 0:
        return 1, 0
    if old == 0 or percent >= 100:
        return 0, 1
    w_old, w_new = (100 - percent) * new, percent * old
    common = math.gcd(w_old, w_new)
    w_old, w_new = w_old // common, w_new // common
    top = max(w_old, w_new)
    if top > MAX_WEIGHT:
        w_old = max(1, round(w_old * MAX_WEIGHT / top))
        w_new = max(1, round(w_new * MAX_WEIGHT / top))
    return w_old, w_new


def _weighted(found: list[tuple[Any, str]], split: tuple[int, int, int] | None) -> list[Server]:
    """Servers for the instances; with a split, the new version's share set by weights."""
    weights = {}
    if split is not None:
        old_version, new_version, percent = split
        old = sum(1 for inst, _ in found if inst.version == old_version)
        new = sum(1 for inst, _ in found if inst.version == new_version)
        w_old, w_new = split_weights(old, new, percent)
        weights = {old_version: w_old, new_version: w_new}
    return [
        Server(
            name=name,
            address=str(inst.address),
            port=int(inst.port or 0),
            weight=weights.get(inst.version, 1),
            instance=str(inst.index),
        )
        for inst, name in found
    ]


def policy_of(options: dict[str, Any], jwks: JwksCache | None = None, *, scope: str = "") -> Policy:
    """A route's stored options as the router's policy (the API checked them on the way in);
    `jwks` holds the keys of JWKS addresses (without it, a route naming one gets no keys);
    `scope` names the route's API keys (its guid)."""
    timeout = options.get("timeout")
    return Policy(
        balance=str(options.get("loadbalancing") or "round-robin"),
        hash_header=str(options.get("hash_header") or ""),
        sticky=bool(options.get("sticky", True)),
        timeout=float(timeout) if timeout else None,
        https_redirect=bool(options.get("https_redirect", False)),
        hsts=bool(options.get("hsts", False)),
        protocol=str(options.get("protocol") or "http1"),
        api_keys=scope if options.get("api_keys") and scope else "",
        route_service=str(options.get("route_service") or ""),
        **_gateway_policy(options, jwks),
    )


# Each gateway option's value, as `yun.gateway.CHECKS` reads it, as the router's policy fields.
_POLICY_FIELDS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "rate_limit": lambda rate: {"rate_limit": rate[0], "rate_window": rate[1]},
    "max_body": lambda size: {"max_body": size},
    "cors": lambda origins: {"cors": origins},
    "circuit_breaker": lambda breaker: {
        "breaker_errors": breaker[0],
        "breaker_cooldown": breaker[1],
    },
    "retries": lambda retries: {"retries": retries},
    "allow": lambda addresses: {"allow": addresses},
    "deny": lambda addresses: {"deny": addresses},
}


def _gateway_policy(options: dict[str, Any], jwks: JwksCache | None) -> dict[str, Any]:
    """The gateway options as the router's policy fields; if one cannot be read (the API
    checked them), none."""
    fields: dict[str, Any] = {}
    try:
        for name, as_fields in _POLICY_FIELDS.items():
            value = options.get(name)
            if value is not None and str(value).strip():
                fields.update(as_fields(CHECKS[name](str(value))))
    except ValueError:
        return {}
    if source := str(options.get("jwt_jwks") or ""):
        fields["jwt"] = True
        fields["jwt_keys"] = jwks.keys(source) if jwks is not None else given_keys(source)
        fields["jwt_claims"] = parse_claims(str(options.get("jwt_claims") or "sub"))
    return fields
