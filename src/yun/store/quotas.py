"""Quotas: what a space and its org use, and whether a change keeps them within their limits.

Usage counts started apps' processes (memory is instances times memory per instance), tasks not
yet finished (their memory, as Cloud Foundry counts them), every route, managed service
instances (user-provided ones cost nothing) and TCP routes. A change is checked by `QuotaGuard`:
made in the session, it compares the usage after with the usage before, and refuses only what
grows past a limit, so that an org already over a lowered limit can still shrink (and do what
does not grow).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yun.store.models import (
    App,
    Org,
    Process,
    Quota,
    Route,
    ServiceInstance,
    Space,
    Task,
    TcpRoute,
)

USER_PROVIDED = "user-provided"
UNFINISHED = ("PENDING", "RUNNING", "CANCELING")
LIMITS = ("memory_mb", "instance_memory_mb", "instances", "routes", "services", "tcp_ports")
LABELS = {
    "memory_mb": "memory",
    "instance_memory_mb": "instance memory",
    "instances": "instances",
    "routes": "routes",
    "services": "service instances",
    "tcp_ports": "TCP ports",
}


class QuotaExceeded(Exception):
    """A change would take a space or org past a limit; the message names the quota, the
    limit and what the change would need."""


@dataclass
class Usage:
    memory_mb: int = 0
    instances: int = 0
    routes: int = 0
    services: int = 0
    tcp_ports: int = 0
    instance_memory_mb: int = 0  # the largest instance's

    def as_dict(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}


def usage(session: Session, space_guids: list[str], starting: str | None = None) -> Usage:
    """What the spaces use; `starting`: an app counted as started (one about to start)."""

    def count(model: type[Route | TcpRoute]) -> int:
        query = select(func.count()).select_from(model).where(model.space_guid.in_(space_guids))
        return int(session.scalar(query) or 0)

    started = (
        select(
            func.coalesce(func.sum(Process.instances * Process.memory_mb), 0),
            func.coalesce(func.sum(Process.instances), 0),
        )
        .join(App, App.guid == Process.app_guid)
        .where(App.space_guid.in_(space_guids), (App.state == "STARTED") | (App.guid == starting))
    )
    memory, instances = session.execute(started).one()
    tasks = session.execute(
        select(
            func.coalesce(func.sum(Task.memory_mb), 0), func.coalesce(func.max(Task.memory_mb), 0)
        )
        .join(App, App.guid == Task.app_guid)
        .where(App.space_guid.in_(space_guids), Task.state.in_(UNFINISHED))
    ).one()
    largest = session.scalar(
        select(func.coalesce(func.max(Process.memory_mb), 0))
        .join(App, App.guid == Process.app_guid)
        .where(App.space_guid.in_(space_guids))
    )
    services = session.scalar(
        select(func.count())
        .select_from(ServiceInstance)
        .where(ServiceInstance.space_guid.in_(space_guids), ServiceInstance.kind != USER_PROVIDED)
    )
    return Usage(
        memory_mb=int(memory) + int(tasks[0]),
        instances=int(instances),
        routes=count(Route),
        services=int(services or 0),
        tcp_ports=count(TcpRoute),
        instance_memory_mb=max(int(largest or 0), int(tasks[1])),
    )


@dataclass
class Held:
    """One quota a space is held to: its own, or its org's (over all the org's spaces)."""

    quota: Quota
    where: str  # "space prod", "org acme"
    space_guids: list[str]


def held_by(session: Session, space: Space) -> list[Held]:
    found = []
    if space.quota_guid and (own := session.get(Quota, space.quota_guid)) is not None:
        found.append(Held(own, f"space {space.name}", [space.guid]))
    org = session.get(Org, space.org_guid)
    if org is not None and org.quota_guid and (plan := session.get(Quota, org.quota_guid)):
        spaces = list(session.scalars(select(Space.guid).where(Space.org_guid == org.guid)))
        found.append(Held(plan, f"org {org.name}", spaces))
    return found


def size(megabytes: int) -> str:
    return f"{megabytes // 1024}G" if megabytes and megabytes % 1024 == 0 else f"{megabytes}M"


def _amount(limit: str, value: int) -> str:
    return size(value) if limit.endswith("memory_mb") else str(value)


class QuotaGuard:
    """Usage of a space's quotas before a change; `check()` after it (flushed) raises
    QuotaExceeded for a limit that the change takes usage past."""

    def __init__(self, session: Session, space_guid: str) -> None:
        self.session = session
        space = session.get(Space, space_guid)
        self.held = held_by(session, space) if space is not None else []
        self.before = [usage(session, h.space_guids) for h in self.held]

    def check(self, starting: str | None = None) -> None:
        """Raise QuotaExceeded if the change (with the app `starting` started) goes too far."""
        if not self.held:
            return
        self.session.flush()
        for held, before in zip(self.held, self.before, strict=True):
            after = usage(self.session, held.space_guids, starting)
            for limit in LIMITS:
                allowed = getattr(held.quota, limit)
                was, now = getattr(before, limit), getattr(after, limit)
                if allowed is not None and now > was and now > allowed:
                    raise QuotaExceeded(_message(held, limit, allowed, was, now))


def _message(held: Held, limit: str, allowed: int, was: int, now: int) -> str:
    label = LABELS[limit]
    if limit == "instance_memory_mb":
        return (
            f"quota {held.quota.name} of {held.where} allows {size(allowed)} of memory per"
            f" instance; this needs {size(now)}"
        )
    return (
        f"quota {held.quota.name} of {held.where} allows {_amount(limit, allowed)} {label};"
        f" this needs {_amount(limit, now)} ({_amount(limit, was)} in use,"
        f" {_amount(limit, now - was)} more)"
    )


def instances_room(session: Session, space_guid: str, memory_mb: int) -> int | None:
    """How many more started instances of `memory_mb` each the space's quotas allow (None:
    no limit); the autoscaler stops there."""
    space = session.get(Space, space_guid)
    left: list[int] = []
    for held in held_by(session, space) if space is not None else []:
        used, plan = usage(session, held.space_guids), held.quota
        if plan.instances is not None:
            left.append(plan.instances - used.instances)
        if plan.memory_mb is not None:
            left.append((plan.memory_mb - used.memory_mb) // max(1, memory_mb))
    return max(0, min(left)) if left else None
