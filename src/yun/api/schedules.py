"""Cron schedules of an app: list them, make one, remove one (`yun schedule`, `yun schedules`,
`yun unschedule`). Those a manifest's `cron:` made are listed too (`origin` "manifest")."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError, not_found
from yun.api.lookups import get_app
from yun.manifest import CronSpec
from yun.store.models import Schedule, Task
from yun.store.schedules import ScheduleError, create_schedule, delete_schedule, schedules_of

router = APIRouter()


class ScheduleBody(BaseModel):
    expression: str = Field(min_length=1, max_length=255)
    command: str = Field(min_length=1, max_length=4096)
    name: str = Field(default="", max_length=63)
    overlap: bool = False
    memory_in_mb: int | None = Field(default=None, ge=16, le=65536)


def schedule_view(session: Any, schedule: Schedule) -> dict[str, Any]:
    last = session.scalar(
        select(Task)
        .where(Task.schedule_guid == schedule.guid)
        .order_by(Task.sequence_id.desc())
        .limit(1)
    )
    return {
        "guid": schedule.guid,
        "name": schedule.name,
        "expression": schedule.expression,
        "command": schedule.command,
        "overlap": schedule.overlap,
        "memory_in_mb": schedule.memory_mb,
        "origin": schedule.origin,
        "next_run_at": schedule.next_run_at,
        "last_run_at": schedule.last_run_at,
        "last_outcome": schedule.last_outcome,
        "last_task": None
        if last is None
        else {"sequence_id": last.sequence_id, "state": last.state, "exit_code": last.exit_code},
        "created_at": schedule.created_at,
        "created_by": schedule.created_by,
    }


@router.get("/v3/apps/{guid}/schedules")
def list_schedules(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        return {"resources": [schedule_view(session, s) for s in schedules_of(session, app.guid)]}


@router.post("/v3/apps/{guid}/schedules", status_code=201)
def make_schedule(guid: str, body: ScheduleBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    job = CronSpec(
        expression=body.expression,
        command=body.command,
        name=body.name.strip(),
        overlap=body.overlap,
        memory_mb=body.memory_in_mb,
    )
    with ctx.store.session() as session:
        app = get_app(session, guid)
        try:
            schedule = create_schedule(session, app=app, job=job, actor=user.name, now=time.time())
        except ScheduleError as exc:
            raise ApiError(exc.status, str(exc)) from exc
        session.flush()
        view = schedule_view(session, schedule)
    ctx.wake("cron")
    return view


@router.delete("/v3/apps/{guid}/schedules/{name}")
def remove_schedule(guid: str, name: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        schedule = session.scalar(
            select(Schedule).where(Schedule.app_guid == app.guid, Schedule.name == name)
        )
        if schedule is None:
            raise not_found(f"schedule {name} of app {app.name}")
        view = schedule_view(session, schedule)
        delete_schedule(session, app=app, schedule=schedule, actor=user.name)
    return view
