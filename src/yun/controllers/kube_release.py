"""What `yun.kube.render` needs of an app, read from the store: its revision's processes, commands,
limits and environment (with VCAP_APPLICATION, as instances get it), its routes, its autoscaling
policy, the network policies toward it and the image its droplet becomes when exported.

The same reading serves `yun k8s render APP` (any app, whichever backend its space uses) and
the Kubernetes backend, so what is printed is what would be applied.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.droplet_image import repository_name
from yun.kube.render import (
    Autoscale,
    Canary,
    Exposure,
    Health,
    Ingress,
    ProcessSpec,
    Release,
    TcpPort,
)
from yun.settings import Timing
from yun.store.models import App, NetworkPolicy, Org, Process, Revision, Space, TcpRoute
from yun.store.queries import hostname, mapped_routes
from yun.store.releases import active_deployment, instance_env

DEFAULT_REGISTRY = "registry.invalid"  # what `yun k8s render` names when no cluster is given


class NoRevision(ValueError):
    """The app has nothing to render yet."""


def image_reference(registry: str, app_name: str, version: int) -> str:
    """Where `yun droplet export` (and the Kubernetes backend) puts the revision's image."""
    return f"{registry.rstrip('/')}/{repository_name(app_name)}:v{version}"


def release_of(
    session: Session,
    app: App,
    *,
    revision: Revision | None = None,
    registry: str = DEFAULT_REGISTRY,
    exposure: Exposure | None = None,
    timing: Timing | None = None,
    max_in_flight: int = 1,
) -> Release:
    revision = revision or (session.get(Revision, app.revision_guid) if app.revision_guid else None)
    if revision is None:
        raise NoRevision(f"app {app.name} has no revision yet: push it first")
    space = session.get(Space, app.space_guid)
    org = session.get(Org, space.org_guid) if space else None
    timing = timing or Timing()
    processes = []
    for proc in session.scalars(
        select(Process).where(Process.app_guid == app.guid).order_by(Process.type)
    ):
        pinned = dict(revision.processes.get(proc.type) or {})
        command = (pinned.get("command") if "command" in pinned else proc.command) or str(
            revision.commands.get(proc.type) or ""
        )
        if not command:
            continue
        processes.append(
            ProcessSpec(
                type=proc.type,
                command=command,
                instances=proc.instances,
                memory_mb=int(pinned.get("memory_mb") or proc.memory_mb),
                disk_mb=int(pinned.get("disk_mb") or proc.disk_mb),
                health=Health(
                    type=proc.health_check_type,
                    endpoint=proc.health_check_endpoint or "/",
                    timeout=int(proc.health_check_timeout or timing.health_timeout),
                    invocation_timeout=int(proc.invocation_timeout or timing.http_check_timeout),
                ),
            )
        )
    routes = _routes(session, app.guid)
    org_name, space_name = (org.name if org else ""), (space.name if space else "")
    web = next((p for p in processes if p.type == "web"), None)
    env = instance_env(revision)
    env["VCAP_APPLICATION"] = json.dumps(
        {
            "application_id": app.guid,
            "application_name": app.name,
            "application_uris": [f"{host}{path}" for host, path in routes],
            "application_version": str(revision.version),
            "limits": {"mem": web.memory_mb, "disk": web.disk_mb} if web else {},
            "name": app.name,
            "organization_name": org_name,
            "space_name": space_name,
            "uris": [f"{host}{path}" for host, path in routes],
            "version": str(revision.version),
        },
        sort_keys=True,
    )
    return Release(
        org=org_name,
        space=space_name,
        app=app.name,
        app_guid=app.guid,
        version=revision.version,
        image=image_reference(registry, app.name, revision.version),
        processes=tuple(processes),
        env=env,
        routes=tuple(routes),
        autoscale=_autoscale(app.autoscale),
        max_in_flight=max_in_flight,
        grace_seconds=int(timing.stop_grace + timing.drain),
        exposure=exposure or Exposure(),
        tcp=tcp_ports(session, app.guid),
        ingress=ingress_of(session, [app.guid]).get(app.guid, ()),
    )


def tcp_ports(session: Session, app_guid: str) -> tuple[TcpPort, ...]:
    """The app's TCP routes, as its processes listen for them on a cluster."""
    return tcp_ports_of(session, [app_guid]).get(app_guid, ())


def tcp_ports_of(session: Session, app_guids: Iterable[str]) -> dict[str, tuple[TcpPort, ...]]:
    """The TCP routes of each of these apps (those with none are absent), in one query."""
    found: dict[str, tuple[TcpPort, ...]] = {}
    for row in session.scalars(
        select(TcpRoute).where(TcpRoute.app_guid.in_(list(app_guids))).order_by(TcpRoute.port)
    ):
        port = TcpPort(row.name, row.port, row.process_type)
        found[row.app_guid] = (*found.get(row.app_guid, ()), port)
    return found


def ingress_of(session: Session, app_guids: Iterable[str]) -> dict[str, tuple[Ingress, ...]]:
    """The network policies toward each of these apps (those with none are absent), in one
    query."""
    found: dict[str, set[Ingress]] = {}
    for row in session.scalars(
        select(NetworkPolicy).where(NetworkPolicy.destination_app_guid.in_(list(app_guids)))
    ):
        allow = Ingress(row.source_app_guid, row.protocol, row.start_port, row.end_port)
        found.setdefault(row.destination_app_guid, set()).add(allow)
    return {guid: tuple(sorted(allowed)) for guid, allowed in found.items()}


def canary_of(session: Session, app: App, **options: Any) -> Canary | None:
    """The new side of a canary deployment under way, at the share of traffic it has now
    (`options` as for `release_of`); None when no canary is under way."""
    deployment = active_deployment(session, app.guid)
    if deployment is None or deployment.strategy != "canary" or deployment.weight is None:
        return None
    revision = session.get(Revision, deployment.revision_guid)
    if revision is None:
        return None
    new = release_of(session, app, revision=revision, **options)
    web = tuple(process for process in new.processes if process.type == "web")
    return Canary(replace(new, processes=web), int(deployment.weight))  # as traffic sees it


def _routes(session: Session, app_guid: str) -> list[tuple[str, str]]:
    """(hostname, path) of the app's routes that the router serves (not internal ones)."""
    return [
        (hostname(route.host, domain.name), route.path)
        for route, domain in mapped_routes(session, app_guid)
        if not domain.internal
    ]


def autoscale_of(app: App) -> Autoscale | None:
    """The app's autoscale policy as a HorizontalPodAutoscaler reads it (None: off)."""
    return _autoscale(app.autoscale or {})


def _autoscale(policy: dict[str, Any]) -> Autoscale | None:
    if not policy or not policy.get("max"):
        return None
    return Autoscale(
        min=int(policy.get("min") or 1),
        max=int(policy["max"]),
        metric=str(policy.get("metric") or "cpu"),
        target=float(policy.get("target") or 50),
    )
