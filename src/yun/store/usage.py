"""Usage, as Cloud Foundry's usage events: what each app, task and service instance used, and
since when, aggregated into instance-hours, GB-hours of memory, task-hours and service-instance
hours per org and space (`yun usage`).

`footprint` reads what the store says runs now: a started app's processes (instances times
memory), each running task, each service instance. `record` compares it with each subject's
last event and writes an event for every change, and one of zero for what is gone; the usage
recorder runs it every minute, so usage is exact to a minute. `report` integrates the events
over a period: each event's level holds from its time until the subject's next event.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yun.store.models import App, Org, Process, ServiceInstance, Space, Task, UsageEvent

HOUR = 3600.0


@dataclass(frozen=True)
class Level:
    kind: str
    name: str
    space_guid: str
    instances: int
    memory_mb: int


def footprint(session: Session) -> dict[str, Level]:
    """What runs now, by subject guid."""
    found: dict[str, Level] = {}
    rows = session.execute(
        select(
            App.guid,
            App.name,
            App.space_guid,
            func.sum(Process.instances),
            func.sum(Process.instances * Process.memory_mb),
        )
        .join(Process, Process.app_guid == App.guid)
        .where(App.state == "STARTED")
        .group_by(App.guid, App.name, App.space_guid)
    )
    for guid, name, space, instances, memory in rows:
        if instances:
            found[guid] = Level("app", name, space, int(instances), int(memory or 0))
    tasks = session.execute(
        select(Task.guid, Task.name, App.space_guid, Task.memory_mb, App.name)
        .join(App, App.guid == Task.app_guid)
        .where(Task.state.in_(("RUNNING", "CANCELING")))
    )
    for guid, name, space, memory, app_name in tasks:
        found[guid] = Level("task", f"{app_name}/{name}", space, 1, int(memory))
    for instance in session.scalars(select(ServiceInstance)):
        found[instance.guid] = Level("service", instance.name, instance.space_guid, 1, 0)
    return found


def _latest(session: Session) -> dict[str, UsageEvent]:
    newest = (
        select(UsageEvent.subject_guid, func.max(UsageEvent.created_at).label("at"))
        .group_by(UsageEvent.subject_guid)
        .subquery()
    )
    rows = session.scalars(
        select(UsageEvent).join(
            newest,
            (UsageEvent.subject_guid == newest.c.subject_guid)
            & (UsageEvent.created_at == newest.c.at),
        )
    )
    return {row.subject_guid: row for row in rows}


def record(session: Session, now: float) -> int:
    """Write an event for each subject whose level changed since its last event; how many."""
    current = footprint(session)
    last = _latest(session)
    written = 0
    places: dict[str, tuple[str, str, str]] = {}

    def place(space_guid: str) -> tuple[str, str, str]:
        if space_guid not in places:
            space = session.get(Space, space_guid)
            org = session.get(Org, space.org_guid) if space else None
            places[space_guid] = (
                space.name if space else "",
                org.guid if org else "",
                org.name if org else "",
            )
        return places[space_guid]

    for guid, level in current.items():
        before = last.get(guid)
        if before is not None and (before.instances, before.memory_mb) == (
            level.instances,
            level.memory_mb,
        ):
            continue
        space_name, org_guid, org_name = place(level.space_guid)
        session.add(
            UsageEvent(
                created_at=now,
                kind=level.kind,
                subject_guid=guid,
                subject_name=level.name,
                space_guid=level.space_guid,
                space_name=space_name,
                org_guid=org_guid,
                org_name=org_name,
                instances=level.instances,
                memory_mb=level.memory_mb,
            )
        )
        written += 1
    for guid, before in last.items():
        if guid not in current and (before.instances or before.memory_mb):
            session.add(
                UsageEvent(
                    created_at=now,
                    kind=before.kind,
                    subject_guid=guid,
                    subject_name=before.subject_name,
                    space_guid=before.space_guid,
                    space_name=before.space_name,
                    org_guid=before.org_guid,
                    org_name=before.org_name,
                    instances=0,
                    memory_mb=0,
                )
            )
            written += 1
    return written


@dataclass
class Totals:
    org: str
    space: str
    instance_hours: float = 0.0
    memory_gb_hours: float = 0.0
    task_hours: float = 0.0
    task_gb_hours: float = 0.0
    service_hours: float = 0.0
    apps: set[str] = field(default_factory=set)

    def view(self) -> dict[str, object]:
        return {
            "org": self.org,
            "space": self.space,
            "apps": len(self.apps),
            "instance_hours": round(self.instance_hours, 3),
            "memory_gb_hours": round(self.memory_gb_hours, 3),
            "task_hours": round(self.task_hours, 3),
            "task_gb_hours": round(self.task_gb_hours, 3),
            "service_hours": round(self.service_hours, 3),
        }


def report(
    session: Session, *, since: float, until: float, org_guids: set[str] | None = None
) -> list[Totals]:
    """Usage between `since` and `until` per org and space (None: of every org)."""
    query = select(UsageEvent).where(UsageEvent.created_at <= until)
    if org_guids is not None:
        query = query.where(UsageEvent.org_guid.in_(org_guids))
    by_subject: dict[str, list[UsageEvent]] = defaultdict(list)
    for event in session.scalars(query.order_by(UsageEvent.created_at)):
        by_subject[event.subject_guid].append(event)
    totals: dict[tuple[str, str], Totals] = {}
    for events in by_subject.values():
        for event, after in zip(events, [*events[1:], None], strict=True):
            if after is not None and after.created_at <= since:
                continue  # over before the period
            start = max(event.created_at, since)
            end = min(after.created_at if after else until, until)
            key = (event.org_name, event.space_name)
            row = totals.setdefault(key, Totals(org=event.org_name, space=event.space_name))
            hours = max(0.0, end - start) / HOUR
            if event.kind == "app":
                row.instance_hours += event.instances * hours
                row.memory_gb_hours += event.memory_mb / 1024 * hours
                if event.instances:
                    row.apps.add(event.subject_guid)
            elif event.kind == "task":
                row.task_hours += event.instances * hours
                row.task_gb_hours += event.memory_mb / 1024 * hours
            else:
                row.service_hours += event.instances * hours
    return [totals[key] for key in sorted(totals)]
