"""Cron schedules fire on time, with time injected: each due run becomes a task of the app;
a run is skipped while the one before still runs (unless overlap is allowed) and while the app
is stopped; after a downtime the latest missed run is made once, if it was due within the
hour; a run that cannot start is recorded and the schedule moves on. A manifest's `cron:` is
kept in step on each push."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.unit.controllers.deployment_world import World

from yun.controllers.cron import CronController
from yun.manifest import CronSpec
from yun.store.models import App, Event, Quota, Schedule, Space, Task
from yun.store.schedules import ScheduleError, create_schedule, sync_manifest


def utc(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp()


class Clock:
    def __init__(self, text: str) -> None:
        self.now = utc(text)

    def __call__(self) -> float:
        return self.now

    def at(self, text: str) -> None:
        self.now = utc(text)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path)
    try:
        made.push(instances=1)
        yield made
    finally:
        made.close()


@pytest.fixture
def clock() -> Clock:
    return Clock("2026-12-06 10:02:30")


@pytest.fixture
def cron(world: World, clock: Clock) -> CronController:
    return CronController(store=world.store, wake=lambda key: None, clock=clock)


def schedule(world: World, clock: Clock, expression: str, command: str, **options: object) -> str:
    with world.store.session() as session:
        app = session.get(App, world.app_guid)
        assert app is not None
        job = CronSpec(expression=expression, command=command, **options)  # type: ignore[arg-type]
        made = create_schedule(session, app=app, job=job, actor="ann", now=clock.now)
        session.flush()
        return made.name


def runs(world: World) -> list[tuple[int, str, str]]:
    with world.store.session() as session:
        return [
            (t.sequence_id, t.name, t.command)
            for t in session.scalars(select(Task).order_by(Task.sequence_id))
        ]


def shown(world: World, name: str) -> Schedule:
    with world.store.session() as session:
        found = session.scalar(select(Schedule).where(Schedule.name == name))
        assert found is not None
        session.expunge(found)
        return found


def finish_all(world: World) -> None:
    with world.store.session() as session:
        for task in session.scalars(select(Task)):
            task.state = "SUCCEEDED"


def test_a_schedule_fires_at_its_times_and_not_before(
    world: World, clock: Clock, cron: CronController
) -> None:
    name = schedule(world, clock, "*/5 * * * *", "python cleanup.py")
    assert name == "python-cleanup-py"
    assert shown(world, name).next_run_at == utc("2026-12-06 10:05")

    clock.at("2026-12-06 10:04:59")
    waited = cron.reconcile("cron")
    assert runs(world) == []
    assert waited.requeue_after == pytest.approx(1.0)

    clock.at("2026-12-06 10:05:00")
    cron.reconcile("cron")
    assert runs(world) == [(1, name, "python cleanup.py")]
    after = shown(world, name)
    assert after.next_run_at == utc("2026-12-06 10:10")
    assert after.last_outcome == "task 1 ran for 2026-12-06 10:05 UTC"
    cron.reconcile("cron")  # again at the same moment: nothing more
    assert len(runs(world)) == 1

    finish_all(world)
    clock.at("2026-12-06 10:10:01")
    cron.reconcile("cron")
    assert [run[0] for run in runs(world)] == [1, 2]
    with world.store.session() as session:
        task = session.scalar(select(Task).where(Task.sequence_id == 2))
        assert task is not None and task.created_by == "cron"
        assert task.schedule_guid == after.guid


def test_no_overlap_unless_asked(world: World, clock: Clock, cron: CronController) -> None:
    single = schedule(world, clock, "* * * * *", "python slow.py", name="slow")
    many = schedule(world, clock, "* * * * *", "python fast.py", name="fast", overlap=True)
    clock.at("2026-12-06 10:03")
    cron.reconcile("cron")
    clock.at("2026-12-06 10:04")  # the 10:03 runs are still PENDING or RUNNING
    cron.reconcile("cron")

    assert [run[1] for run in runs(world)] == ["slow", "fast", "fast"]
    assert shown(world, single).last_outcome == (
        "skipped the run due 2026-12-06 10:04 UTC: task 1 of the run before still runs"
    )
    assert shown(world, many).last_outcome.startswith("task 3 ran")
    with world.store.session() as session:
        skipped = session.scalars(select(Event).where(Event.type == "app.schedule.skipped"))
        assert [e.data["name"] for e in skipped] == ["slow"]


def test_missed_runs_are_made_once_within_the_hour_and_skipped_after(
    world: World, clock: Clock, cron: CronController
) -> None:
    name = schedule(world, clock, "*/10 * * * *", "python report.py")
    clock.at("2026-12-06 10:45")  # down since before 10:10: 10:10, 10:20, 10:30, 10:40 missed
    cron.reconcile("cron")

    assert len(runs(world)) == 1
    after = shown(world, name)
    assert after.last_outcome == (
        "task 1 ran for 2026-12-06 10:40 UTC; 3 earlier runs missed while the platform was down"
    )
    assert after.next_run_at == utc("2026-12-06 10:50")

    finish_all(world)
    clock.at("2026-12-06 13:05")  # 10:50 … 13:00 missed; 13:00 is 5 minutes late: it runs
    cron.reconcile("cron")
    assert len(runs(world)) == 2

    finish_all(world)
    clock.at("2026-12-08 09:00:30")  # down for two days: the latest missed run was due 09:00
    cron.reconcile("cron")
    assert len(runs(world)) == 3  # 30 s late is within the hour
    with world.store.session() as session:
        row = session.scalar(select(Schedule).where(Schedule.name == name))
        assert row is not None
        row.expression = "0 3 * * *"
        row.next_run_at = utc("2026-12-09 03:00")
    clock.at("2026-12-09 05:00")  # two hours late
    cron.reconcile("cron")
    assert len(runs(world)) == 3
    assert shown(world, name).last_outcome == (
        "skipped the run due 2026-12-09 03:00 UTC: the platform was down"
    )
    assert shown(world, name).next_run_at == utc("2026-12-10 03:00")


def test_a_stopped_app_skips_and_a_run_past_the_quota_is_recorded(
    world: World, clock: Clock, cron: CronController
) -> None:
    name = schedule(world, clock, "*/5 * * * *", "python big.py", memory_mb=4096)
    with world.store.session() as session:
        quota = Quota(name="small", memory_mb=1024)
        session.add(quota)
        session.flush()
        space = session.get(Space, world.defaults.space_guid)
        assert space is not None
        space.quota_guid = quota.guid
    clock.at("2026-12-06 10:05")
    cron.reconcile("cron")
    outcome = shown(world, name).last_outcome
    assert outcome.startswith("not started: quota small of space")
    assert shown(world, name).next_run_at == utc("2026-12-06 10:10")

    with world.store.session() as session:
        app = session.get(App, world.app_guid)
        assert app is not None
        app.state = "STOPPED"
    clock.at("2026-12-06 10:10")
    cron.reconcile("cron")
    assert runs(world) == []
    assert shown(world, name).last_outcome.endswith("the app is stopped")


def test_wrong_schedules_are_refused_naming_the_field(world: World, clock: Clock) -> None:
    with pytest.raises(ScheduleError, match="expression: '\\*/5 \\* \\*' is not a cron schedule"):
        schedule(world, clock, "*/5 * *", "true")
    schedule(world, clock, "@daily", "true", name="daily")
    with pytest.raises(ScheduleError, match="already has a schedule daily") as taken:
        schedule(world, clock, "@hourly", "true", name="daily")
    assert taken.value.status == 409
    with pytest.raises(ScheduleError, match="name: 'Two Words' is not a name"):
        schedule(world, clock, "@hourly", "true", name="Two Words")


def test_a_push_keeps_the_manifest_jobs_in_step(world: World, clock: Clock) -> None:
    schedule(world, clock, "@daily", "python own.py", name="own")

    def push(*jobs: CronSpec) -> dict[str, tuple[str, str, str]]:
        with world.store.session() as session:
            app = session.get(App, world.app_guid)
            assert app is not None
            sync_manifest(session, app=app, jobs=list(jobs), actor="ann", now=clock.now)
        with world.store.session() as session:
            return {
                s.name: (s.expression, s.command, s.origin)
                for s in session.scalars(select(Schedule))
            }

    first = push(CronSpec("*/5 * * * *", "python a.py"), CronSpec("@hourly", "python b.py", "b"))
    assert first == {
        "own": ("@daily", "python own.py", "cli"),
        "python-a-py": ("*/5 * * * *", "python a.py", "manifest"),
        "b": ("@hourly", "python b.py", "manifest"),
    }
    second = push(CronSpec("0 * * * *", "python b.py --all", "b"))
    assert second == {
        "own": ("@daily", "python own.py", "cli"),
        "b": ("0 * * * *", "python b.py --all", "manifest"),
    }
    assert push() == {"own": ("@daily", "python own.py", "cli")}
    with pytest.raises(ScheduleError, match="own: app web has a schedule of that name"):
        push(CronSpec("@daily", "true", "own"))
