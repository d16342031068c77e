"""Usage events and the report made of them: a change of instances, memory or state is an
event; the report integrates each level over time, per org and space, and what was deleted
still counts for the time it ran."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.unit.controllers.deployment_world import World

from yun.store.models import App, Process, ServiceInstance, Task
from yun.store.usage import record, report

T0 = 1_800_000_000.0
HOUR = 3600.0


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path)
    try:
        made.push(instances=1)  # "web": one instance of 256M, started
        yield made
    finally:
        made.close()


def at(world: World, when: float) -> int:
    with world.store.session() as session:
        return record(session, when)


def test_usage_adds_up_instances_memory_tasks_and_services(world: World) -> None:
    with world.store.session() as session:
        session.add(
            ServiceInstance(name="db", space_guid=world.defaults.space_guid, kind="user-provided")
        )
        session.add(
            Task(
                app_guid=world.app_guid,
                sequence_id=1,
                name="report",
                command="python report.py",
                state="RUNNING",
                memory_mb=512,
                disk_mb=1024,
                revision_guid="",
            )
        )
    assert at(world, T0) == 3  # the app, its task, the service
    assert at(world, T0 + 60) == 0  # nothing changed: nothing written

    with world.store.session() as session:
        task = session.scalar(select(Task))
        assert task is not None
        task.state = "SUCCEEDED"
    at(world, T0 + HOUR / 2)
    with world.store.session() as session:
        web = session.scalar(select(Process).where(Process.app_guid == world.app_guid))
        assert web is not None
        web.instances = 2
    at(world, T0 + HOUR)
    with world.store.session() as session:
        app = session.get(App, world.app_guid)
        assert app is not None
        session.delete(app)  # deleted: its usage so far still counts
    at(world, T0 + 2 * HOUR)

    with world.store.session() as session:
        (row,) = report(session, since=T0, until=T0 + 3 * HOUR)
    assert (row.org, row.space) == ("main", "dev")
    assert row.instance_hours == pytest.approx(1 + 2)
    assert row.memory_gb_hours == pytest.approx(0.25 + 0.5)
    assert row.task_hours == pytest.approx(0.5)
    assert row.task_gb_hours == pytest.approx(0.25)
    assert row.service_hours == pytest.approx(3)
    assert row.view()["apps"] == 1

    with world.store.session() as session:
        (later,) = report(session, since=T0 + 1.5 * HOUR, until=T0 + 3 * HOUR)
        assert later.instance_hours == pytest.approx(1.0)  # half an hour of two instances
        assert report(session, since=T0, until=T0 + HOUR, org_guids=set()) == []
