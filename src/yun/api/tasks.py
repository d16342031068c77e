"""Tasks: run a one-off command on an app's droplet, list an app's tasks, stop one (Cloud
Foundry's `/v3/apps/:guid/tasks`; a task is named by its sequence id within the app)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError, not_found
from yun.api.lookups import get_app
from yun.store.models import App, Task
from yun.store.tasks import TaskError, cancel_task, create_task, log_source, tasks_of

router = APIRouter()


class TaskBody(BaseModel):
    command: str = Field(min_length=1, max_length=4096)
    name: str = Field(default="", max_length=255, pattern=r"^[A-Za-z0-9._-]*$")
    memory_in_mb: int | None = Field(default=None, ge=16, le=65536)
    disk_in_mb: int | None = Field(default=None, ge=16, le=1048576)


def task_view(task: Task) -> dict[str, Any]:
    return {
        "guid": task.guid,
        "sequence_id": task.sequence_id,
        "name": task.name,
        "command": task.command,
        "state": task.state,
        "memory_in_mb": task.memory_mb,
        "disk_in_mb": task.disk_mb,
        "result": {"failure_reason": task.failure_reason or None},
        "exit_code": task.exit_code,
        "log_source": log_source(task),
        "created_at": task.created_at,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "created_by": task.created_by,
        "schedule_guid": task.schedule_guid,
    }


def _task(session: Any, app: App, sequence: str) -> Task:
    task: Task | None = (
        session.scalar(
            select(Task).where(Task.app_guid == app.guid, Task.sequence_id == int(sequence))
        )
        if sequence.isdigit()
        else None
    )
    if task is None:
        raise not_found(f"task {sequence} of app {app.name}")
    return task


@router.post("/v3/apps/{guid}/tasks", status_code=202)
def run_task(guid: str, body: TaskBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        try:
            task = create_task(
                session,
                app=app,
                command=body.command,
                actor=user.name,
                name=body.name,
                memory_mb=body.memory_in_mb,
                disk_mb=body.disk_in_mb,
            )
        except TaskError as exc:
            raise ApiError(exc.status, str(exc)) from exc
        session.flush()
        view = task_view(task)
    ctx.wake("tasks")
    return view


@router.get("/v3/apps/{guid}/tasks")
def list_tasks(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        return {"resources": [task_view(task) for task in tasks_of(session, app.guid)]}


@router.get("/v3/apps/{guid}/tasks/{sequence}")
def get_task(guid: str, sequence: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        return task_view(_task(session, get_app(session, guid), sequence))


@router.post("/v3/apps/{guid}/tasks/{sequence}/actions/cancel", status_code=202)
def terminate_task(guid: str, sequence: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        task = _task(session, app, sequence)
        try:
            cancel_task(session, app=app, task=task, actor=user.name)
        except TaskError as exc:
            raise ApiError(exc.status, str(exc)) from exc
        session.flush()
        view = task_view(task)
    ctx.wake("tasks")
    return view
