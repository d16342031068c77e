"""Rolling deployments through the real controllers: capacity never drops below the instance
count, old instances drain before they stop, crashes and cancels roll back the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.controllers.deployment_world import World

from yun.controllers.deploying import Sides, roll
from yun.store.models import App
from yun.store.releases import cancel


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path)
    try:
        yield made
    finally:
        made.close()


def run_until_final(world: World, *, instances: int, limit: int = 60) -> list[list[str]]:
    """Tick until the deployment ends; every tick's serving set (each must stay full)."""
    seen = []
    for _ in range(limit):
        world.tick()
        seen.append(world.serving())
        if world.deployment()["state"] not in ("DEPLOYING", "CANCELING", "FAILING"):
            break
    return seen


def test_a_rolling_deployment_replaces_every_instance_without_losing_capacity(
    world: World,
) -> None:
    world.push(instances=3)
    assert world.serving() == ["1-0", "1-1", "1-2"]
    version = world.deploy()
    seen = run_until_final(world, instances=3)
    assert world.deployment()["state"] == "DEPLOYED"
    assert all(len(serving) >= 3 for serving in seen), seen
    assert any("1-" in s and "2-" in s for serving in seen for s in [" ".join(serving)])
    for _ in range(3):
        world.tick()
    assert world.serving() == [f"{version}-0", f"{version}-1", f"{version}-2"]
    assert world.current_version() == version
    assert set(world.agent.slots) == set(world.agent.specs)  # nothing old left running
    assert len(world.agent.specs) == 3


def test_max_in_flight_starts_that_many_new_instances_at_once(world: World) -> None:
    world.push(instances=4)
    world.deploy(max_in_flight=2)
    world.tick()
    assert world.deployment()["progress"]["web"]["new"] == 2
    run_until_final(world, instances=4)
    assert world.deployment()["state"] == "DEPLOYED"


def test_an_old_instance_keeps_running_while_it_drains(tmp_path: Path) -> None:
    world = World(tmp_path, drain=5.0)
    try:
        world.push(instances=1)
        world.deploy()
        stopped_at = None
        unrouted_at = None
        for tick in range(30):
            world.tick()
            if unrouted_at is None and "1-0" not in world.serving():
                unrouted_at = tick
            if stopped_at is None and not any(s.endswith(":1:0") for s in world.agent.slots):
                stopped_at = tick
                break
        assert unrouted_at is not None and stopped_at is not None
        assert stopped_at - unrouted_at >= 4  # 5 s of drain, at one second a tick
    finally:
        world.close()


def test_a_new_revision_that_crashes_fails_the_deployment_and_the_old_one_serves(
    world: World,
) -> None:
    world.push(instances=2)
    world.agent.crash_versions.add(2)
    world.deploy()
    seen = run_until_final(world, instances=2)
    deployment = world.deployment()
    assert deployment["state"] == "FAILED"
    assert any("crashed" in text for _, text in deployment["history"])
    assert all(len(serving) >= 2 for serving in seen)
    assert world.serving() == ["1-0", "1-1"]
    assert world.current_version() == 1


def test_cancel_rolls_back_as_carefully_as_it_rolled_forward(world: World) -> None:
    world.push(instances=3)
    world.deploy()
    for _ in range(4):  # part of the way
        world.tick()
    assert any(s.startswith("2-") for s in world.serving())
    with world.store.session() as session:
        app = session.get(App, world.app_guid)
        assert app is not None
        cancel(session, app=app, actor="alice")
    seen = run_until_final(world, instances=3)
    assert world.deployment()["state"] == "CANCELED"
    assert all(len(serving) >= 3 for serving in seen), seen
    for _ in range(3):
        world.tick()
    assert world.serving() == ["1-0", "1-1", "1-2"]
    assert world.current_version() == 1


def test_a_push_during_a_deployment_supersedes_it(world: World) -> None:
    world.push(instances=2)
    world.deploy()
    world.tick()
    third = world.deploy()
    seen = run_until_final(world, instances=2)
    assert world.deployment()["state"] == "DEPLOYED"
    assert all(len(serving) >= 1 for serving in seen)
    for _ in range(3):
        world.tick()
    assert world.serving() == [f"{third}-0", f"{third}-1"]


@pytest.mark.parametrize(
    ("sides", "expected"),
    [
        (Sides(wanted=3, old=3, new=0, ready_new=0, old_left=3), (3, 1, False)),
        (Sides(wanted=3, old=3, new=1, ready_new=0, old_left=3), (3, 1, False)),
        (Sides(wanted=3, old=3, new=1, ready_new=1, old_left=3), (2, 2, False)),
        (Sides(wanted=3, old=0, new=3, ready_new=3, old_left=1), (0, 3, False)),
        (Sides(wanted=3, old=0, new=3, ready_new=3, old_left=0), (0, 3, True)),
        (Sides(wanted=4, old=4, new=0, ready_new=0, old_left=4), (4, 2, False)),
    ],
)
def test_roll_moves_one_batch_at_a_time(sides: Sides, expected: tuple[int, int, bool]) -> None:
    max_in_flight = 2 if sides.wanted == 4 else 1
    assert roll(sides, max_in_flight=max_in_flight) == expected
