"""Cron schedules in the store: made by `yun schedule` or kept in step with a manifest's `cron:`.

A schedule names its job (unique in the app; by default a slug of its command) and keeps the
next time it is due, which the cron controller (`controllers/cron.py`) moves on at each run.
Jobs from a manifest (`origin` "manifest") follow it: a push whose manifest has `cron:` makes,
changes and removes them to match; a push whose manifest says nothing leaves them, as a
manifest that leaves a key out keeps what the app has. Jobs made with `yun schedule` are never
touched by a push.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.manifest import CronSpec
from yun.manifest.cron import check_expression, next_time
from yun.store import events
from yun.store.models import App, Schedule

MANIFEST = "manifest"
CLI = "cli"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


class ScheduleError(Exception):
    """A schedule that cannot be made; `field` names what is wrong, `status` the API's answer."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.status = status


def schedules_of(session: Session, app_guid: str) -> list[Schedule]:
    query = select(Schedule).where(Schedule.app_guid == app_guid).order_by(Schedule.name)
    return list(session.scalars(query))


def default_name(command: str, taken: set[str]) -> str:
    """A name from the command's words (`python report.py` → `python-report-py`), made unique."""
    slug = re.sub(r"[^a-z0-9]+", "-", command.lower()).strip("-")[:40].strip("-") or "job"
    name, n = slug, 2
    while name in taken:
        name, n = f"{slug}-{n}", n + 1
    return name


def create_schedule(
    session: Session,
    *,
    app: App,
    job: CronSpec,
    actor: str,
    now: float,
    origin: str = CLI,
) -> Schedule:
    """A new schedule of `app`, first due at the job's next time after `now`."""
    try:
        expression = check_expression(job.expression)
    except ValueError as exc:
        raise ScheduleError("expression", str(exc)) from None
    if not job.command.strip():
        raise ScheduleError("command", "must not be empty")
    taken = {schedule.name for schedule in schedules_of(session, app.guid)}
    name = job.name or default_name(job.command, taken)
    if not NAME.match(name):
        raise ScheduleError(
            "name", f"{name!r} is not a name of lower-case letters, digits, '.', '_' and '-'"
        )
    if name in taken:
        raise ScheduleError("name", f"app {app.name} already has a schedule {name}", status=409)
    schedule = Schedule(
        app_guid=app.guid,
        name=name,
        expression=expression,
        command=job.command.strip(),
        memory_mb=job.memory_mb,
        overlap=job.overlap,
        origin=origin,
        next_run_at=next_time(expression, now),
        created_by=actor,
    )
    session.add(schedule)
    events.record(
        session,
        type="audit.app.schedule.create",
        app=app,
        actor=actor,
        data={"name": name, "expression": expression, "origin": origin},
    )
    return schedule


def delete_schedule(session: Session, *, app: App, schedule: Schedule, actor: str) -> None:
    session.delete(schedule)
    events.record(
        session,
        type="audit.app.schedule.delete",
        app=app,
        actor=actor,
        data={"name": schedule.name, "expression": schedule.expression},
    )


def sync_manifest(
    session: Session, *, app: App, jobs: list[CronSpec], actor: str, now: float
) -> None:
    """Make the app's manifest jobs those of `jobs` (by name; a job without one is named from
    its command). A job whose schedule or command changed is due at its new next time."""
    existing = {s.name: s for s in schedules_of(session, app.guid)}
    theirs = {name: s for name, s in existing.items() if s.origin == MANIFEST}
    wanted: dict[str, CronSpec] = {}
    taken = {name for name, s in existing.items() if s.origin != MANIFEST}
    for job in jobs:
        name = job.name or default_name(job.command, taken | set(wanted))
        if name in taken:
            raise ScheduleError(
                "cron", f"{name}: app {app.name} has a schedule of that name from `yun schedule`"
            )
        wanted[name] = job
    for name, gone in theirs.items():
        if name not in wanted:
            delete_schedule(session, app=app, schedule=gone, actor=actor)
    session.flush()
    for name, job in wanted.items():
        schedule = theirs.get(name)
        if schedule is None:
            named = CronSpec(job.expression, job.command, name, job.overlap, job.memory_mb)
            create_schedule(session, app=app, job=named, actor=actor, now=now, origin=MANIFEST)
            continue
        if (schedule.expression, schedule.command) != (job.expression, job.command):
            schedule.next_run_at = next_time(job.expression, now)
        schedule.expression, schedule.command = job.expression, job.command
        schedule.overlap, schedule.memory_mb = job.overlap, job.memory_mb
