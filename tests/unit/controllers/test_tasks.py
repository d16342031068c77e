"""Tasks as users see them: a one-off command runs on the app's current droplet with its
environment, its output lands in the app's log as TASK lines, its exit status decides SUCCEEDED
or FAILED; terminate-task stops it; a server that stops or dies fails the tasks it ran; a
task's memory counts against quotas while it runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.unit.controllers.deployment_world import World

from yun.agent import ExitStatus, InstanceSpec
from yun.blobstore import BlobStore
from yun.controllers.tasks import INTERRUPTED, TaskController
from yun.logstore import LogStore
from yun.settings import Settings
from yun.store.models import App, Event, Quota, Space, Task
from yun.store.quotas import QuotaExceeded
from yun.store.tasks import TaskError, cancel_task, create_task


class FakeRunner:
    """Runs a task as a test says: what it prints, its exit code, and whether it waits."""

    def __init__(self) -> None:
        self.code = 0
        self.ran: list[InstanceSpec] = []
        self.go = threading.Event()
        self.go.set()

    def run_once(
        self, spec: InstanceSpec, *, output: Any, timeout: float, stop: Any = None
    ) -> ExitStatus:
        self.ran.append(spec)
        output(f"running: {spec.command}")
        while not self.go.wait(0.01):
            if stop is not None and stop.is_set():
                return ExitStatus(code=None, reason="stopped")
        return ExitStatus(code=self.code, reason=f"exited with {self.code}")


@pytest.fixture
def runner() -> FakeRunner:
    return FakeRunner()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path)
    try:
        made.push(instances=1)
        yield made
    finally:
        made.close()


def controller(world: World, runner: FakeRunner, tmp_path: Path) -> TaskController:
    return TaskController(
        store=world.store,
        blobs=BlobStore(tmp_path / "blobs"),
        logs=LogStore(tmp_path / "app-logs"),
        settings=Settings(home=tmp_path),
        runner=runner,
    )


def run_task(world: World, command: str, **options: Any) -> int:
    with world.store.session() as session:
        app = session.get(App, world.app_guid)
        assert app is not None
        task = create_task(session, app=app, command=command, actor="ann", **options)
        session.flush()
        return task.sequence_id


def task(world: World, sequence: int) -> Task:
    with world.store.session() as session:
        found = session.scalar(
            select(Task).where(Task.app_guid == world.app_guid, Task.sequence_id == sequence)
        )
        assert found is not None
        session.expunge(found)
        return found


def until(world: World, sequence: int, *states: str, tasks: TaskController) -> Task:
    for _ in range(200):
        tasks.reconcile("tasks")
        found = task(world, sequence)
        if found.state in states:
            return found
        time.sleep(0.02)
    raise AssertionError(f"task {sequence} stayed {task(world, sequence).state}")


def lines(tasks: TaskController, world: World) -> list[tuple[str, str]]:
    recent = tasks.logs.recent(world.app_guid, 100)
    return [(line.source, line.message) for line in recent]


def test_a_task_runs_on_the_current_revision_with_its_environment(
    world: World, runner: FakeRunner, tmp_path: Path
) -> None:
    world.deploy(GREETING="hello")  # revision 2 serves after the rollout
    for _ in range(6):
        world.tick()
    tasks = controller(world, runner, tmp_path)
    sequence = run_task(world, "python manage.py migrate", name="migrate")

    done = until(world, sequence, "SUCCEEDED", "FAILED", tasks=tasks)

    assert (done.state, done.exit_code, done.name) == ("SUCCEEDED", 0, "migrate")
    assert done.started_at is not None and done.finished_at is not None
    spec = runner.ran[0]
    assert spec.command == "python manage.py migrate"
    assert spec.env["GREETING"] == "hello" and spec.env["YUN_REVISION"] == "2"
    assert spec.memory_mb == 256  # the web process's, the task asked for none
    assert ("TASK/1", "running: python manage.py migrate") in lines(tasks, world)
    assert ("TASK/1", "Task 1 succeeded") in lines(tasks, world)
    with world.store.session() as session:
        kinds = set(session.scalars(select(Event.type)))
    assert {"audit.app.task.create", "app.task.succeeded"} <= kinds


def test_a_failing_command_fails_the_task_with_its_exit_status(
    world: World, runner: FakeRunner, tmp_path: Path
) -> None:
    tasks = controller(world, runner, tmp_path)
    runner.code = 3
    first = run_task(world, "false", memory_mb=512)
    second = run_task(world, "true")

    done = until(world, first, "SUCCEEDED", "FAILED", tasks=tasks)

    assert (done.state, done.exit_code, done.failure_reason) == ("FAILED", 3, "exited with 3")
    assert done.memory_mb == 512
    assert second == first + 1  # an app's tasks are numbered in order
    assert ("TASK/1", "Task 1 failed: exited with 3") in lines(tasks, world)


def test_terminate_stops_a_running_task_and_fails_it(
    world: World, runner: FakeRunner, tmp_path: Path
) -> None:
    tasks = controller(world, runner, tmp_path)
    runner.go.clear()  # runs until stopped
    sequence = run_task(world, "sleep 3600")
    until(world, sequence, "RUNNING", tasks=tasks)

    with world.store.session() as session:
        app = session.get(App, world.app_guid)
        row = session.scalar(select(Task).where(Task.sequence_id == sequence))
        assert app is not None and row is not None
        cancel_task(session, app=app, task=row, actor="ann")
        assert row.state == "CANCELING"
    done = until(world, sequence, "FAILED", tasks=tasks)

    assert done.failure_reason == "terminated"
    with world.store.session() as session:
        app = session.get(App, world.app_guid)
        row = session.scalar(select(Task).where(Task.sequence_id == sequence))
        assert app is not None and row is not None
        with pytest.raises(TaskError, match="already finished") as refused:
            cancel_task(session, app=app, task=row, actor="ann")
        assert refused.value.status == 409


def test_a_task_terminated_before_it_starts_never_runs(
    world: World, runner: FakeRunner, tmp_path: Path
) -> None:
    sequence = run_task(world, "true")
    with world.store.session() as session:
        app = session.get(App, world.app_guid)
        row = session.scalar(select(Task).where(Task.sequence_id == sequence))
        assert app is not None and row is not None
        cancel_task(session, app=app, task=row, actor="ann")
    controller(world, runner, tmp_path).reconcile("tasks")
    time.sleep(0.1)

    assert task(world, sequence).state == "FAILED"
    assert runner.ran == []


def test_a_stopping_server_fails_its_running_tasks_and_the_next_one_fails_the_orphans(
    world: World, runner: FakeRunner, tmp_path: Path
) -> None:
    tasks = controller(world, runner, tmp_path)
    runner.go.clear()
    stopped = run_task(world, "sleep 3600")
    until(world, stopped, "RUNNING", tasks=tasks)
    tasks.stop()
    assert task(world, stopped).failure_reason == INTERRUPTED

    orphan = run_task(world, "sleep 3600")  # left RUNNING by a server that was killed
    with world.store.session() as session:
        row = session.scalar(select(Task).where(Task.sequence_id == orphan))
        assert row is not None
        row.state = "RUNNING"
    controller(world, runner, tmp_path).reconcile("tasks")

    assert (task(world, orphan).state, task(world, orphan).failure_reason) == (
        "FAILED",
        INTERRUPTED,
    )
    assert len(runner.ran) == 1  # not run again: a command halfway done may not be safe to


def test_a_task_needs_a_droplet_and_room_in_the_quota(world: World) -> None:
    with world.store.session() as session:
        quota = Quota(name="small", memory_mb=512)
        session.add(quota)
        session.flush()
        space = session.get(Space, world.defaults.space_guid)
        assert space is not None
        space.quota_guid = quota.guid  # the app's one instance uses 256M of it
    run_task(world, "sleep 60", memory_mb=256)  # fills it

    with pytest.raises(QuotaExceeded, match="allows 512M memory; this needs 768M"):
        run_task(world, "sleep 60", memory_mb=256)  # the unfinished task counts

    with world.store.session() as session:
        bare = App(name="bare", space_guid=world.defaults.space_guid)
        session.add(bare)
        session.flush()
        with pytest.raises(TaskError, match="app bare has no droplet to run a task on"):
            create_task(session, app=bare, command="true", actor="ann")
