"""JSON shapes the API returns, built from store rows."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.context import UsageProvider
from yun.slots import slot_of
from yun.store.models import (
    App,
    Cluster,
    Droplet,
    Event,
    Instance,
    Process,
    Revision,
    Space,
    TcpRoute,
)
from yun.store.queries import route_urls
from yun.store.releases import pinned_runtime, runtime_of

MIB = 1024 * 1024


def effective_command(proc: Process, revision: Revision | None) -> str:
    if proc.command:
        return proc.command
    if revision is not None:
        return str(revision.commands.get(proc.type, ""))
    return ""


def agent_slot(inst: Instance) -> str:
    """The node agent's name for an instance's slot."""
    return slot_of(inst.process_guid, inst.version, inst.index)


def instance_view(
    inst: Instance, now: float, *, proc: Process, usage: UsageProvider | None = None
) -> dict[str, Any]:
    """One instance; with `usage`, what it uses now next to its limits (bytes, None: unknown)."""
    measured = usage(agent_slot(inst)) if usage is not None else None
    return {
        "index": inst.index,
        "version": inst.version,
        "draining": inst.draining_since is not None,
        "guid": inst.instance_guid,
        "state": inst.state,
        "since": inst.since,
        "uptime": max(0.0, now - inst.since) if inst.state == "RUNNING" else 0.0,
        "address": inst.address,
        "port": inst.port,
        "pid": inst.pid,
        "crash_count": inst.crash_count,
        "exit_code": inst.exit_code,
        "reason": inst.reason,
        "driver": inst.driver,
        "routed": inst.routed,
        "memory_bytes": measured.memory_bytes if measured is not None else None,
        "memory_limit_bytes": proc.memory_mb * MIB,
        "disk_bytes": measured.disk_bytes if measured is not None else None,
        "disk_quota_bytes": proc.disk_mb * MIB,
    }


def app_view(
    session: Session, app: App, *, detail: bool = True, usage: UsageProvider | None = None
) -> dict[str, Any]:
    """An app and its processes; `detail` adds each instance, `usage` what each uses now."""
    revision = session.get(Revision, app.revision_guid) if app.revision_guid else None
    droplet = session.get(Droplet, revision.droplet_guid) if revision else None
    space = session.get(Space, app.space_guid)
    cluster = session.get(Cluster, space.cluster_guid) if space and space.cluster_guid else None
    now = time.time()
    procs = list(
        session.scalars(select(Process).where(Process.app_guid == app.guid).order_by(Process.type))
    )
    urls = route_urls(session, app.guid)
    processes = []
    for proc in procs:
        instances = list(
            session.scalars(
                select(Instance)
                .where(Instance.process_guid == proc.guid)
                .order_by(Instance.version.desc(), Instance.index)
            )
        )
        running = sum(1 for i in instances if i.state == "RUNNING" and i.draining_since is None)
        item: dict[str, Any] = {
            "guid": proc.guid,
            "type": proc.type,
            "command": effective_command(proc, revision),
            "has_routes": proc.type == "web" and bool(urls),
            "instances": proc.instances,
            "running": running,
            "memory_mb": proc.memory_mb,
            "disk_mb": proc.disk_mb,
            "health_check": {
                "type": proc.health_check_type,
                "endpoint": proc.health_check_endpoint,
                "timeout": proc.health_check_timeout,
                "invocation_timeout": proc.invocation_timeout,
            },
        }
        if detail:
            item["instance_details"] = [
                instance_view(i, now, proc=proc, usage=usage) for i in instances
            ]
        processes.append(item)
    return {
        "guid": app.guid,
        "name": app.name,
        "state": app.state,
        "space": space.name if space else "",
        "cluster": cluster.name if cluster is not None else None,  # None: on this machine
        "created_at": app.created_at,
        "updated_at": app.updated_at,
        "routes": urls,
        "tcp_routes": [
            {"name": route.name, "port": route.port}
            for route in session.scalars(
                select(TcpRoute).where(TcpRoute.app_guid == app.guid).order_by(TcpRoute.port)
            )
        ],
        "revision": None
        if revision is None
        else {
            "guid": revision.guid,
            "version": revision.version,
            "description": revision.description,
        },
        "droplet": None
        if droplet is None
        else {
            "guid": droplet.guid,
            "buildpacks": droplet.buildpacks,
            "detected": droplet.detected,
            "process_types": droplet.process_types,
            "stack": droplet.stack or "host",
        },
        "processes": processes,
        "stack": _stack(app, droplet),
        "runtime": pinned_runtime(revision) if revision is not None else runtime_of(session, app),
        "runtime_next": runtime_of(session, app),  # from the next restart, if it differs
    }


def _stack(app: App, droplet: Droplet | None) -> str:
    """What the app runs on: its droplet's stack, else what its manifest asks for."""
    if droplet is not None and droplet.image:
        return "image"
    if droplet is not None and droplet.stack == "host":
        return "host (this machine's own programs, no stack)"
    if droplet is not None:
        return droplet.stack or "host"
    return str(app.spec.get("stack") or "")


def event_view(event: Event) -> dict[str, Any]:
    return {
        "guid": event.guid,
        "type": event.type,
        "actor": event.actor,
        "actee": event.actee_name,
        "timestamp": event.created_at,
        "data": event.data,
    }
