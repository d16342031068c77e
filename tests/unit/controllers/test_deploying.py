"""Rolling deployments through the real controllers: capacity never drops below the instance
count, old instances drain before they stop, crashes and cancels roll back the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.unit.controllers.deployment_world import World

from yun.controllers.deploying import Sides, roll
from yun.controllers.routing import split_weights
from yun.store.models import App, Droplet, Revision
from yun.store.releases import Plan, cancel, prune, resume


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


def canary(steps: tuple[int, ...]) -> Plan:
    return Plan(strategy="canary", steps=steps)


def app_of(world: World, session: Session) -> App:
    app = session.get(App, world.app_guid)
    assert app is not None
    return app


def test_a_canary_sends_its_exact_share_and_pauses_at_each_step(world: World) -> None:
    world.push(instances=4)
    world.deploy(plan=canary((10, 50)))
    for _ in range(4):
        world.tick()
    assert world.deployment()["state"] == "PAUSED"
    assert world.share(2) == pytest.approx(0.10)
    assert len([n for n in world.serving() if n.startswith("1-")]) == 4  # old side whole
    with world.store.session() as session:
        resume(session, app=app_of(world, session), actor="alice")
    for _ in range(5):
        world.tick()
    assert world.deployment()["state"] == "PAUSED"
    assert world.share(2) == pytest.approx(0.50)
    assert len([n for n in world.serving() if n.startswith("2-")]) == 2  # ceil(4 * 50 %)
    with world.store.session() as session:
        resume(session, app=app_of(world, session), actor="alice")
    seen = run_until_final(world, instances=4)
    assert world.deployment()["state"] == "DEPLOYED"
    assert all(len(serving) >= 4 for serving in seen)
    for _ in range(3):
        world.tick()
    assert world.serving() == ["2-0", "2-1", "2-2", "2-3"]
    assert set(world.weights().values()) == {1}


def test_a_canary_answering_more_5xx_is_cancelled_and_traffic_returns(world: World) -> None:
    world.push(instances=2)
    world.deploy(plan=canary((25,)))
    for _ in range(4):
        world.tick()
    assert world.deployment()["state"] == "PAUSED"
    names = {s.name.split("-", 1)[1]: s.name for r in world.router.routes for s in r.servers}
    world.responses = {names["1-0"]: (100, 1), names["1-1"]: (100, 0), names["2-0"]: (60, 15)}
    world.tick()
    failed = world.deployment()
    assert failed["state"] == "FAILING"
    assert "25% of its responses were 5xx" in failed["reason"]
    world.tick()
    assert world.share(1) == 1.0  # all requests back on the old revision at once
    run_until_final(world, instances=2)
    assert world.deployment()["state"] == "FAILED"
    assert world.current_version() == 1
    for _ in range(3):
        world.tick()
    assert world.serving() == ["1-0", "1-1"]


def test_a_canary_as_good_as_the_old_side_keeps_going(world: World) -> None:
    world.push(instances=2)
    world.deploy(plan=canary((25,)))
    for _ in range(4):
        world.tick()
    names = {s.name.split("-", 1)[1]: s.name for r in world.router.routes for s in r.servers}
    world.responses = {names["1-0"]: (100, 5), names["2-0"]: (60, 4)}  # 5 % and 6.7 %
    world.tick()
    assert world.deployment()["state"] == "PAUSED"


def test_blue_green_switches_all_traffic_at_once_and_keeps_the_old_set(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    try:
        world.push(instances=2)
        world.deploy(plan=Plan(strategy="blue-green", keep_seconds=10))
        shares = []
        for _ in range(4):
            world.tick()
            shares.append(world.share(2))
        assert shares[-1] == 1.0 and set(shares) <= {0.0, 1.0}  # never a mix
        assert len([n for n in world.serving() if n.startswith("1-")]) == 2  # standing by
        for _ in range(5):
            world.tick()
        assert world.deployment()["state"] == "DEPLOYING"  # within the keep time
        seen = run_until_final(world, instances=2)
        assert world.deployment()["state"] == "DEPLOYED"
        assert all(len(serving) >= 2 for serving in seen)
        for _ in range(3):
            world.tick()
        assert world.serving() == ["2-0", "2-1"]
    finally:
        world.close()


def test_cancelling_blue_green_after_the_switch_switches_straight_back(world: World) -> None:
    world.push(instances=2)
    world.deploy(plan=Plan(strategy="blue-green", keep_seconds=60))
    for _ in range(4):
        world.tick()
    assert world.share(2) == 1.0
    with world.store.session() as session:
        cancel(session, app=app_of(world, session), actor="alice")
    world.tick()  # the cancel reaches the router on the next pass
    assert world.share(1) == 1.0
    run_until_final(world, instances=2)
    assert world.deployment()["state"] == "CANCELED"


@pytest.mark.parametrize(
    ("old", "new", "percent", "expected_share"),
    [(4, 1, 10, 0.10), (2, 1, 10, 0.10), (3, 1, 33, 0.33), (9, 2, 50, 0.50), (5, 5, 1, 0.01)],
)
def test_split_weights_give_the_new_side_its_share(
    old: int, new: int, percent: int, expected_share: float
) -> None:
    w_old, w_new = split_weights(old, new, percent)
    assert 0 < w_old <= 256 and 0 < w_new <= 256
    assert new * w_new / (new * w_new + old * w_old) == pytest.approx(expected_share, abs=0.005)


def test_split_weights_at_the_ends() -> None:
    assert split_weights(2, 2, 0) == (1, 0)
    assert split_weights(2, 2, 100) == (0, 1)
    assert split_weights(0, 2, 30) == (0, 1)
    assert split_weights(2, 0, 30) == (1, 0)


def test_old_revisions_and_droplets_are_pruned_but_what_runs_stays(world: World) -> None:
    world.push(instances=1)
    for _ in range(7):
        world.deploy(plan=Plan(strategy="recreate"))
    with world.store.session() as session:
        for number, droplet in enumerate(session.scalars(select(Droplet))):
            droplet.blob = f"{number:064x}"  # a blob each, as real builds have
            if number % 2:  # and some are docker images, unpacked
                droplet.image = {"bundle": f"/images/bundles/{number}"}
    with world.store.session() as session:
        app = app_of(world, session)
        freed = prune(session, app=app, revisions=4, droplets=2)
        versions = [r.version for r in session.scalars(select(Revision).order_by(Revision.version))]
        droplets = set(session.scalars(select(Droplet.guid)))
        kept = {r.droplet_guid for r in session.scalars(select(Revision)) if r.version in (7, 8)}
        images = {d.image["bundle"] for d in session.scalars(select(Droplet)) if d.image}
    assert versions == [5, 6, 7, 8]
    assert droplets == kept  # the newest two revisions' droplets, the current one among them
    assert len(freed.blobs) == 6 and len(set(freed.blobs)) == 6  # their blobs let go
    assert len(freed.bundles) == 3 and not images & set(freed.bundles)  # unpacked images too


def test_a_push_during_a_cancel_keeps_the_serving_revision_whole(world: World) -> None:
    world.push(instances=2)
    world.deploy(plan=canary((20,)))
    for _ in range(4):
        world.tick()
    with world.store.session() as session:
        cancel(session, app=app_of(world, session), actor="alice")
    world.tick()
    fourth = world.deploy(plan=Plan(strategy="blue-green", keep_seconds=2))
    seen = run_until_final(world, instances=2)
    assert world.deployment()["state"] == "DEPLOYED"
    assert all(len(serving) >= 2 for serving in seen), seen
    for _ in range(4):
        world.tick()
    assert world.serving() == [f"{fourth}-0", f"{fourth}-1"]


def test_a_deployment_finishing_during_an_instance_pass_keeps_what_it_deployed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deployment controller commits the finish between the instance controller's read of
    the app and its read of the deployment (both run at once in `yun server`): the instances
    just deployed must stay wanted, not be replaced by the old revision's."""
    import yun.controllers.scheduling as scheduling

    real = scheduling.active_deployment
    deployments = world.deployments

    def finishing_meanwhile(session: Session, app_guid: str) -> object:
        deployments.reconcile("deployments")  # another thread, its own transaction
        return real(session, app_guid)

    world.push(instances=2)
    version = world.deploy()
    # Every deployment pass now runs inside an instance pass, the finishing one among them.
    monkeypatch.setattr(scheduling, "active_deployment", finishing_meanwhile)
    monkeypatch.setattr(world, "deployments", SimpleNamespace(reconcile=lambda key: None))
    seen = run_until_final(world, instances=2)
    for _ in range(3):
        world.tick()
        seen.append(world.serving())
    assert world.deployment()["state"] == "DEPLOYED"
    assert all(len(serving) >= 2 for serving in seen), seen
    assert world.serving() == [f"{version}-0", f"{version}-1"]
    assert all(slot.split(":")[1] == str(version) for slot in world.agent.specs)
