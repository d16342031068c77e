"""Starts run on the agent's start pool: many slots come up at once, each slot is started once
at a time, a slot is STARTING without an address until its start returned, and stopping the
agent while starts are under way leaves no instance behind (or, if asked, hands them on)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.agent.agent_fakes import (
    FakeClock,
    FakeDriver,
    Recorder,
    all_running,
    make_spec,
    report,
    settle,
    settle_in,
)

from yun.agent import Agent, InstanceState
from yun.agent.supervisor import START_WORKERS
from yun.server.stopping import recorded_driver
from yun.settings import Settings, Timing


@pytest.fixture
def driver() -> Iterator[FakeDriver]:
    fake = FakeDriver()
    fake.gate = threading.Event()  # starts wait inside the driver until a test opens it
    yield fake
    fake.gate.set()
    fake.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def new_agent(root: Path, driver: FakeDriver, recorder: Recorder) -> Agent:
    return Agent(root=root, driver=driver, listener=recorder, timing=Timing(), clock=FakeClock())


@pytest.fixture
def agent(tmp_path: Path, driver: FakeDriver, recorder: Recorder) -> Iterator[Agent]:
    agent = new_agent(tmp_path / "instances", driver, recorder)
    yield agent
    assert driver.gate is not None
    driver.gate.set()
    agent.stop(stop_instances=True)


def wait_inside(driver: FakeDriver, count: int) -> None:
    """Until `count` starts are under way in the driver (held there by its gate)."""
    deadline = time.monotonic() + 5
    while driver.inside < count:
        assert time.monotonic() < deadline, f"only {driver.inside} starts under way"
        time.sleep(0.005)


def open_gate_soon(driver: FakeDriver) -> None:
    """Open the gate from another thread while this one is inside `Agent.stop`."""
    assert driver.gate is not None
    threading.Timer(0.2, driver.gate.set).start()


def test_many_slots_start_at_once_and_each_exactly_once(agent: Agent, driver: FakeDriver) -> None:
    specs = [make_spec(i) for i in range(20)]
    agent.set_desired(specs)
    agent.supervise_once()
    wait_inside(driver, START_WORKERS)
    for _ in range(3):  # passes while starts are in flight start nothing twice
        agent.set_desired(specs)
        agent.supervise_once()
    assert len(driver.entered) == START_WORKERS
    assert driver.gate is not None
    driver.gate.set()
    settle(agent, lambda: all_running(agent, 20))
    assert sorted(driver.entered) == sorted(spec.slot for spec in specs)
    assert driver.most_inside == START_WORKERS
    assert driver.most_inside_per_slot == 1


def test_a_slot_has_no_address_nor_health_before_its_start_returned(
    agent: Agent, driver: FakeDriver, recorder: Recorder
) -> None:
    agent.set_desired([make_spec(0)])
    agent.supervise_once()
    wait_inside(driver, 1)
    for _ in range(3):
        agent.supervise_once()
    (starting,) = agent.reports()
    assert starting.state is InstanceState.STARTING
    assert (starting.address, starting.port, starting.pid) == (None, None, None)
    assert recorder.states == [starting]
    assert [line for _, _, line in recorder.logs] == [f"Starting instance {starting.instance_guid}"]
    assert driver.gate is not None
    driver.gate.set()
    settle_in(agent, InstanceState.RUNNING)
    assert [r.state for r in recorder.states] == ["STARTING", "STARTING", "RUNNING"]
    assert recorder.states[1].pid is not None
    assert report(agent).instance_guid == starting.instance_guid


def test_a_replaced_instance_is_not_reported_running_while_its_successor_starts(
    agent: Agent, driver: FakeDriver
) -> None:
    assert driver.gate is not None
    driver.gate.set()
    agent.set_desired([make_spec(0)])
    settle_in(agent, InstanceState.RUNNING)
    driver.gate.clear()
    agent.set_desired([make_spec(0, env={"GREETING": "bye"})])
    agent.supervise_once()
    wait_inside(driver, 1)
    agent.supervise_once()
    successor = report(agent)
    assert successor.state is InstanceState.STARTING
    assert (successor.address, successor.pid) == (None, None)
    driver.gate.set()
    settle_in(agent, InstanceState.RUNNING)
    assert report(agent).instance_guid == successor.instance_guid


def test_a_slot_removed_while_starting_is_stopped_once_its_start_returns(
    agent: Agent, driver: FakeDriver, recorder: Recorder
) -> None:
    agent.set_desired([make_spec(0)])
    agent.supervise_once()
    wait_inside(driver, 1)
    agent.set_desired([])
    agent.supervise_once()
    assert len(agent.reports()) == 1  # kept until its start has returned
    assert driver.gate is not None
    driver.gate.set()
    settle(agent, lambda: agent.reports() == [])
    assert len(driver.started()) == 1
    assert driver.running() == []
    assert recorder.crashes == []
    assert [r.state for r in recorder.states] == ["STARTING", "DOWN"]  # never RUNNING


def test_a_slot_changed_while_starting_starts_its_new_spec_afterwards(
    agent: Agent, driver: FakeDriver
) -> None:
    agent.set_desired([make_spec(0)])
    agent.supervise_once()
    wait_inside(driver, 1)
    agent.set_desired([make_spec(0, env={"GREETING": "bye"})])
    agent.supervise_once()
    assert driver.entered == ["proc-1:0"]  # no second start while the first is in flight
    assert driver.gate is not None
    driver.gate.set()

    def only_the_new_one_runs() -> bool:
        greetings = [p.env["GREETING"] for p in driver.running()]
        return greetings == ["bye"] and report(agent).state is InstanceState.RUNNING

    settle(agent, only_the_new_one_runs)
    assert len(driver.started()) == 2
    assert driver.most_inside_per_slot == 1
    assert report(agent).crash_count == 0


def test_stopping_during_starts_leaves_nothing_running(
    tmp_path: Path, driver: FakeDriver, recorder: Recorder
) -> None:
    agent = new_agent(tmp_path / "instances", driver, recorder)
    agent.set_desired([make_spec(i) for i in range(START_WORKERS + 4)])
    agent.supervise_once()
    wait_inside(driver, START_WORKERS)  # the other four wait in the pool's queue
    open_gate_soon(driver)
    agent.stop(stop_instances=True)
    assert len(driver.entered) == START_WORKERS  # the queued ones were dropped, not started
    assert len(driver.started()) == START_WORKERS
    assert driver.running() == []
    assert agent.reports() == []
    assert list((tmp_path / "instances").iterdir()) == []
    last = {r.slot: r.state for r in recorder.states}
    assert set(last.values()) == {InstanceState.DOWN}


def test_stopping_the_agent_waits_for_starts_and_hands_them_on(
    tmp_path: Path, driver: FakeDriver
) -> None:
    first = new_agent(tmp_path / "instances", driver, Recorder())
    first.set_desired([make_spec(i) for i in range(3)])
    first.supervise_once()
    wait_inside(driver, 3)
    open_gate_soon(driver)
    first.stop()  # instances keep running: a later agent adopts them
    assert len(driver.running()) == 3

    heard = Recorder()
    second = new_agent(tmp_path / "instances", driver, heard)
    second.start()
    try:
        adopted = heard.states[:3]  # what it adopted, before its own passes
        assert {r.pid for r in adopted} == {p.pid for p in driver.running()}
        assert {r.state for r in adopted} == {InstanceState.STARTING}
    finally:
        second.stop(stop_instances=True)
    assert driver.running() == []


def test_runs_of_another_driver_are_left_alone_and_stop_all_finds_their_driver(
    tmp_path: Path, driver: FakeDriver
) -> None:
    """An agent with another driver than the one that started an instance (YUN_DRIVER changed,
    or `yun server stop --all` run without it) cannot adopt it: it leaves the run directory (and
    so the running process's state) in place instead of removing it, and `stop --all` takes the
    driver the state files name."""
    root = tmp_path / "instances"
    first = new_agent(root, driver, Recorder())
    assert driver.gate is not None
    driver.gate.set()
    first.set_desired([make_spec(0)])
    first.supervise_once()
    wait_inside(driver, 0)
    deadline = time.monotonic() + 5
    while not list(root.glob("*/state.json")) and time.monotonic() < deadline:
        time.sleep(0.02)
    first.stop()  # the instance keeps running
    (state,) = list(root.glob("*/state.json"))
    record = json.loads(state.read_text())
    assert record["driver"] == "fake"

    class OtherDriver(FakeDriver):
        name = "other"

    other = OtherDriver()
    heard = Recorder()
    second = new_agent(root, other, heard)  # type: ignore[arg-type]
    second.start()
    second.stop()
    other.close()
    assert state.exists() and heard.states == []  # left alone, not "removed"
    assert recorded_driver(Settings(home=tmp_path)) == "fake"
    third = new_agent(root, driver, Recorder())
    third.start()
    third.stop(stop_instances=True)
    assert driver.running() == []
