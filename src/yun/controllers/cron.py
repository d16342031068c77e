"""Runs cron schedules: each due schedule starts its command as a task of the app (Stackato's
`cron:`, Heroku Scheduler), then is due again at its expression's next time (UTC).

Rules, each recorded where users look (`yun schedules` shows the last outcome, `yun tasks` the
runs, `yun events` each run and skip):

- **No overlap** unless the schedule allows it: when the task of its previous run has not
  finished, the run is skipped (`app.schedule.skipped`), as Kubernetes' `concurrencyPolicy:
  Forbid` does.
- **Missed runs** (the platform was down when they were due) are made up for once, not once
  each: the latest missed time runs as soon as the platform is back, if it was due less than
  an hour ago (`CATCH_UP`, the role of Kubernetes' `startingDeadlineSeconds`); older ones are
  skipped. Either way the outcome says how many were missed.
- A **stopped app**'s schedules skip their runs: Stackato ran cron inside the app's instances.
- A run that cannot start (a quota would be exceeded, the app has no droplet) is recorded with
  why, and the schedule moves on to its next time.

Time is injected (`clock`), so tests move it instead of waiting for minutes.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yun.controllers.runtime.managing import Result
from yun.manifest.cron import next_time
from yun.store import events
from yun.store.models import App, Schedule, Task
from yun.store.quotas import UNFINISHED, QuotaExceeded
from yun.store.session import Store
from yun.store.tasks import TaskError, create_task

CATCH_UP = 3600.0  # seconds: a missed run due less long ago than this still runs, once
IDLE = 30.0  # seconds: look again at least this often (a new schedule wakes it sooner)
MAX_MISSED = 10_000  # times counted after a long downtime (every minute for a week)
ACTOR = "cron"
log = logging.getLogger(__name__)


def when(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def due_times(schedule: Schedule, now: float) -> list[float]:
    """The schedule's times from its next one up to `now`: one, or more after a downtime."""
    times = [schedule.next_run_at]
    while len(times) < MAX_MISSED:
        later = next_time(schedule.expression, times[-1])
        if later > now:
            break
        times.append(later)
    return times


def _runs(count: int) -> str:
    return f"{count} earlier run{'s' if count != 1 else ''}"


class CronController:
    prefix = "cron"

    def __init__(
        self,
        *,
        store: Store,
        wake: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.wake = wake
        self.clock = clock

    def reconcile(self, key: str) -> Result:
        now = self.clock()
        with self.store.session() as session:
            due = list(session.scalars(select(Schedule.guid).where(Schedule.next_run_at <= now)))
        started = 0
        for guid in due:
            started += self._fire(guid, now)
        if started:
            self.wake("tasks")
        with self.store.session() as session:
            soonest = session.scalar(select(func.min(Schedule.next_run_at)))
        wait = IDLE if soonest is None else min(IDLE, float(soonest) - self.clock())
        return Result(requeue_after=max(wait, 0.2))

    def _fire(self, guid: str, now: float) -> bool:
        """Run (or skip) the schedule's due time; whether a task was started."""
        try:
            with self.store.session() as session:
                return self._run(session, guid, now)
        except (TaskError, QuotaExceeded) as exc:
            with self.store.session() as session:
                schedule = session.get(Schedule, guid)
                if schedule is not None:
                    self._skip(session, schedule, now, f"not started: {exc}", failed=True)
            return False

    def _run(self, session: Session, guid: str, now: float) -> bool:
        schedule = session.get(Schedule, guid)
        if schedule is None or schedule.next_run_at > now:
            return False  # gone, or fired by another pass meanwhile
        app = session.get(App, schedule.app_guid)
        if app is None:
            return False
        missed = due_times(schedule, now)
        latest, earlier = missed[-1], len(missed) - 1
        also = f"; {_runs(earlier)} missed while the platform was down" if earlier else ""
        why = self._reason_to_skip(session, schedule, app, now - latest)
        if why is not None:
            self._skip(session, schedule, now, f"skipped the run due {when(latest)}: {why}{also}")
            return False
        task = create_task(
            session,
            app=app,
            command=schedule.command,
            actor=ACTOR,
            name=schedule.name,
            memory_mb=schedule.memory_mb,
            schedule_guid=schedule.guid,
        )
        session.flush()
        schedule.last_run_at = latest
        schedule.last_outcome = f"task {task.sequence_id} ran for {when(latest)}{also}"
        schedule.next_run_at = next_time(schedule.expression, now)
        events.record(
            session,
            type="app.schedule.run",
            app=app,
            actor=ACTOR,
            data={
                "name": schedule.name,
                "task": task.sequence_id,
                "due": latest,
                "missed": earlier,
            },
        )
        return True

    def _reason_to_skip(
        self, session: Session, schedule: Schedule, app: App, late: float
    ) -> str | None:
        if late > CATCH_UP:
            return "the platform was down"
        if app.state != "STARTED":
            return "the app is stopped"
        if schedule.overlap:
            return None
        running = session.scalar(
            select(Task.sequence_id).where(
                Task.schedule_guid == schedule.guid, Task.state.in_(UNFINISHED)
            )
        )
        return None if running is None else f"task {running} of the run before still runs"

    def _skip(
        self,
        session: Session,
        schedule: Schedule,
        now: float,
        outcome: str,
        *,
        failed: bool = False,
    ) -> None:
        schedule.last_outcome = outcome
        schedule.next_run_at = next_time(schedule.expression, now)
        events.record(
            session,
            type="app.schedule.failed" if failed else "app.schedule.skipped",
            app=session.get(App, schedule.app_guid),
            actor=ACTOR,
            data={"name": schedule.name, "outcome": outcome},
        )
