"""Tasks in the store: making one (`yun run-task`, a cron schedule's run) and asking one to stop.

A task runs on the droplet, environment and services of the revision that serves when it is
made, with the memory and disk of the app's web process unless it asks for its own, as Cloud
Foundry's tasks do. Its memory counts against the space's and org's quotas until it finishes.
"""

from __future__ import annotations

import secrets
import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yun.store import events
from yun.store.models import App, Process, Revision, Task
from yun.store.quotas import UNFINISHED, QuotaGuard

DEFAULT_MEMORY_MB = 256
DEFAULT_DISK_MB = 1024
FINISHED = ("SUCCEEDED", "FAILED")


class TaskError(Exception):
    """A task that cannot be made or stopped; `field` names what is wrong, `status` the HTTP
    status the API answers with."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


def create_task(
    session: Session,
    *,
    app: App,
    command: str,
    actor: str,
    name: str = "",
    memory_mb: int | None = None,
    disk_mb: int | None = None,
    schedule_guid: str | None = None,
) -> Task:
    """A PENDING task of `app`; TaskError when the app has never been staged, QuotaExceeded
    when its memory would take a quota past its limit."""
    if not command.strip():
        raise TaskError("command", "command: must not be empty")
    revision = session.get(Revision, app.revision_guid) if app.revision_guid else None
    if revision is None:
        raise TaskError("app", f"app {app.name} has no droplet to run a task on; push it first")
    web = session.scalar(select(Process).where(Process.app_guid == app.guid, Process.type == "web"))
    pinned = dict(revision.processes.get("web") or {})
    sequence = session.scalar(
        select(func.coalesce(func.max(Task.sequence_id), 0)).where(Task.app_guid == app.guid)
    )
    quotas = QuotaGuard(session, app.space_guid)
    task = Task(
        app_guid=app.guid,
        sequence_id=int(sequence or 0) + 1,
        name=name or secrets.token_hex(4),
        command=command,
        state="PENDING",
        memory_mb=memory_mb
        or int(pinned.get("memory_mb") or (web.memory_mb if web else DEFAULT_MEMORY_MB)),
        disk_mb=disk_mb or int(pinned.get("disk_mb") or (web.disk_mb if web else DEFAULT_DISK_MB)),
        revision_guid=revision.guid,
        created_by=actor,
        schedule_guid=schedule_guid,
    )
    session.add(task)
    quotas.check()
    events.record(
        session,
        type="audit.app.task.create",
        app=app,
        actor=actor,
        data={"task": task.sequence_id, "name": task.name, "memory_mb": task.memory_mb},
    )
    return task


def cancel_task(session: Session, *, app: App, task: Task, actor: str) -> None:
    """Stop `task`: one not started yet fails at once, a running one is stopped by the task
    runner (SIGTERM, then SIGKILL after ten seconds). TaskError (409) when it has finished."""
    if task.state in FINISHED:
        raise TaskError(
            "task", f"task {task.sequence_id} has already finished ({task.state})", status=409
        )
    if task.state == "PENDING":
        finish(task, state="FAILED", reason="terminated before it started")
    elif task.state == "RUNNING":
        task.state = "CANCELING"
    events.record(
        session,
        type="audit.app.task.cancel",
        app=app,
        actor=actor,
        data={"task": task.sequence_id, "name": task.name},
    )


def finish(task: Task, *, state: str, reason: str = "", exit_code: int | None = None) -> None:
    task.state = state
    task.failure_reason = reason
    task.exit_code = exit_code
    task.finished_at = time.time()


def unfinished(session: Session, app_guid: str | None = None) -> list[Task]:
    query = select(Task).where(Task.state.in_(UNFINISHED)).order_by(Task.created_at)
    if app_guid is not None:
        query = query.where(Task.app_guid == app_guid)
    return list(session.scalars(query))


def log_source(task: Task) -> str:
    """The source of the task's lines in the app's log."""
    return f"TASK/{task.sequence_id}"


def tasks_of(session: Session, app_guid: str) -> list[Task]:
    """The app's tasks, newest first."""
    query = select(Task).where(Task.app_guid == app_guid).order_by(Task.sequence_id.desc())
    return list(session.scalars(query))
