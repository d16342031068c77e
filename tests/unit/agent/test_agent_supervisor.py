"""The supervisor's state machine, driven pass by pass with a fake driver and a hand-moved clock.

Starts run on the agent's start pool and a later pass applies them, so tests `settle` (run
passes in real time, the fake clock standing still) wherever an instance has to come up."""

from __future__ import annotations

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
    started,
)

from yun.agent import Agent, HealthCheckSpec, InstanceState
from yun.settings import Timing

TIMING = Timing()  # Cloud Foundry's numbers: the fake clock makes them free


@pytest.fixture
def driver() -> Iterator[FakeDriver]:
    fake = FakeDriver()
    yield fake
    fake.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def agent(
    tmp_path: Path, driver: FakeDriver, recorder: Recorder, clock: FakeClock
) -> Iterator[Agent]:
    agent = Agent(
        root=tmp_path / "instances", driver=driver, listener=recorder, timing=TIMING, clock=clock
    )
    yield agent
    agent.stop(stop_instances=True)


def crash(agent: Agent, driver: FakeDriver, code: int = 1) -> None:
    """End the instance; one pass notices (and launches a restart if one is due at once)."""
    pid = report(agent).pid
    assert pid is not None
    driver.exit(pid, code)
    agent.supervise_once()


def crash_and_restart(agent: Agent, driver: FakeDriver, code: int = 1) -> None:
    crash(agent, driver, code)
    settle_in(agent, InstanceState.RUNNING)


def test_starts_each_slot_and_reports_running_once_healthy(
    agent: Agent, driver: FakeDriver, recorder: Recorder
) -> None:
    agent.set_desired([make_spec(0), make_spec(1)])
    settle(agent, lambda: all_running(agent, 2))
    reports = sorted(agent.reports(), key=lambda r: r.slot)
    assert len({r.port for r in reports}) == 2
    states = [(r.state, r.pid is not None) for r in recorder.states if r.slot == "proc-1:0"]
    assert states == [  # launched, started, healthy
        (InstanceState.STARTING, False),
        (InstanceState.STARTING, True),
        (InstanceState.RUNNING, True),
    ]
    (env,) = [p.env for p in driver.started() if p.spec.index == 1]  # started in parallel
    assert env["CF_INSTANCE_INDEX"] == "1"
    assert env["CF_INSTANCE_GUID"] == reports[1].instance_guid
    assert env["MEMORY_LIMIT"] == "256m"


def test_lifecycle_lines_go_to_the_cell_source(agent: Agent, recorder: Recorder) -> None:
    agent.set_desired([make_spec(0)])
    agent.supervise_once()
    sources = {source for _, source, _ in recorder.logs}
    assert sources == {"CELL/0"}
    assert recorder.logs[0][2].startswith("Starting instance")


def test_first_three_crashes_restart_at_once_then_backoff_doubles(
    agent: Agent, driver: FakeDriver, recorder: Recorder, clock: FakeClock
) -> None:
    agent.set_desired([make_spec()])
    settle_in(agent, InstanceState.RUNNING)
    for count in (1, 2, 3):
        crash_and_restart(agent, driver)  # the clock stands still: restarted at once
        assert report(agent).crash_count == count
    assert len(driver.started()) == 4

    crash(agent, driver)  # the 4th: wait 30 s
    assert report(agent).state is InstanceState.CRASHED
    assert report(agent).crash_count == 4
    crashed = report(agent).instance_guid
    clock.advance(29)
    agent.supervise_once()
    assert report(agent).state is InstanceState.CRASHED
    assert report(agent).instance_guid == crashed  # no new instance launched
    clock.advance(1)
    agent.supervise_once()
    settle_in(agent, InstanceState.RUNNING)
    assert len(driver.started()) == 5

    crash(agent, driver)  # the 5th: wait 60 s
    crashed = report(agent).instance_guid
    clock.advance(59)
    agent.supervise_once()
    assert report(agent).state is InstanceState.CRASHED
    assert report(agent).instance_guid == crashed
    clock.advance(1)
    agent.supervise_once()
    settle_in(agent, InstanceState.RUNNING)

    assert [c.reason for c in recorder.crashes] == ["exited with 1"] * 5
    assert [c.exit_code for c in recorder.crashes] == [1] * 5
    assert [c.crash_count for c in recorder.crashes] == [1, 2, 3, 4, 5]


def test_a_crash_is_reported_as_crashed_before_the_restart(
    agent: Agent, driver: FakeDriver, recorder: Recorder
) -> None:
    agent.set_desired([make_spec()])
    settle_in(agent, InstanceState.RUNNING)
    first = report(agent).instance_guid
    recorder.states.clear()
    crash_and_restart(agent, driver, code=3)
    states = [(r.state, r.instance_guid) for r in recorder.states]
    assert states[0] == (InstanceState.CRASHED, first)
    assert states[1][0] is InstanceState.STARTING
    assert states[1][1] != first
    assert recorder.crashes[0].exit_code == 3


def test_crash_count_resets_after_five_minutes_running(
    agent: Agent, driver: FakeDriver, clock: FakeClock
) -> None:
    agent.set_desired([make_spec()])
    settle_in(agent, InstanceState.RUNNING)
    for _ in range(3):
        crash_and_restart(agent, driver)
    clock.advance(299)
    agent.supervise_once()
    assert report(agent).crash_count == 3
    clock.advance(1)
    agent.supervise_once()
    assert report(agent).crash_count == 0
    crash_and_restart(agent, driver)  # counts as a first crash again: immediate restart
    assert report(agent).crash_count == 1


def test_an_instance_not_healthy_within_the_timeout_crashes(
    agent: Agent, driver: FakeDriver, recorder: Recorder, clock: FakeClock
) -> None:
    driver.listen = False
    agent.set_desired([make_spec()])
    settle(agent, lambda: started(agent))
    port = report(agent).port
    clock.advance(59)
    agent.supervise_once()
    assert report(agent).state is InstanceState.STARTING
    first = driver.started()[0]
    clock.advance(1)
    agent.supervise_once()
    (crashed,) = recorder.crashes
    assert crashed.reason == f"nothing accepted connections on port {port} ($PORT) within 60s"
    assert crashed.state is InstanceState.CRASHED
    assert report(agent).crash_count == 1
    settle(agent, lambda: not first.alive)
    assert first.stopped_with_grace == TIMING.stop_grace


def test_health_timeout_comes_from_the_spec(
    agent: Agent, driver: FakeDriver, recorder: Recorder, clock: FakeClock
) -> None:
    driver.listen = False
    agent.set_desired([make_spec(health=HealthCheckSpec(timeout=5))])
    settle(agent, lambda: started(agent))
    clock.advance(5)
    agent.supervise_once()
    assert recorder.crashes[0].reason.endswith("($PORT) within 5s")


def test_a_start_that_failed_names_the_port_the_app_listens_on_instead(
    agent: Agent, driver: FakeDriver, recorder: Recorder, clock: FakeClock
) -> None:
    driver.listen, driver.listens_elsewhere = False, {5000}
    agent.set_desired([make_spec(health=HealthCheckSpec(timeout=5))])
    settle(agent, lambda: started(agent))
    port = report(agent).port
    clock.advance(5)
    agent.supervise_once()
    reason = (
        f"nothing accepted connections on port {port} ($PORT) within 5s; "
        f"the app listens on port 5000 instead: make it listen on $PORT ({port})"
    )
    assert [crash.reason for crash in recorder.crashes] == [reason]
    assert report(agent).reason == reason  # what `yun app` shows
    guid = recorder.crashes[0].instance_guid
    assert (
        "proc-1:0",
        "CELL/0",
        f"Instance {guid} crashed: {reason}",
    ) in recorder.logs  # what `yun logs` shows


def test_a_start_that_failed_while_listening_on_port_says_no_more(
    agent: Agent, driver: FakeDriver, recorder: Recorder, clock: FakeClock
) -> None:
    driver.listens_elsewhere = {5000}  # and its own port: nothing to point at
    health = HealthCheckSpec(type="http", endpoint="/health", timeout=5, invocation_timeout=0.1)
    agent.set_desired([make_spec(health=health)])
    settle(agent, lambda: started(agent))
    port = report(agent).port
    clock.advance(5)
    agent.supervise_once()
    (crashed,) = recorder.crashes  # the fake's port accepts connections, but never answers
    assert crashed.reason == (
        f"GET /health never answered 200 within 5s: the last try on port {port} ($PORT) "
        "timed out after 0.1s"
    )


def test_failing_checks_after_running_kill_the_instance(
    agent: Agent, driver: FakeDriver, recorder: Recorder, clock: FakeClock
) -> None:
    agent.set_desired([make_spec()])
    settle_in(agent, InstanceState.RUNNING)
    pid = report(agent).pid
    assert pid is not None
    driver.close_port(pid)
    for _ in range(2):  # tolerated
        clock.advance(TIMING.liveness_interval)
        agent.supervise_once()
        assert report(agent).state is InstanceState.RUNNING
        assert report(agent).pid == pid
    clock.advance(TIMING.liveness_interval)
    agent.supervise_once()
    assert recorder.crashes[0].reason == "health check failed"
    settle_in(agent, InstanceState.RUNNING)
    assert report(agent).pid != pid


def test_liveness_checks_are_spaced_out(
    agent: Agent, driver: FakeDriver, recorder: Recorder, clock: FakeClock
) -> None:
    agent.set_desired([make_spec()])
    settle_in(agent, InstanceState.RUNNING)
    pid = report(agent).pid
    assert pid is not None
    driver.close_port(pid)
    for _ in range(5):  # many passes within one liveness interval probe nothing
        clock.advance(TIMING.check_interval)
        agent.supervise_once()
    assert recorder.crashes == []
    assert report(agent).state is InstanceState.RUNNING


def test_process_check_runs_without_a_port(agent: Agent, driver: FakeDriver) -> None:
    driver.listen = False
    agent.set_desired([make_spec(health=HealthCheckSpec(type="process"))])
    settle_in(agent, InstanceState.RUNNING)


def test_failed_start_is_a_crash(agent: Agent, driver: FakeDriver, recorder: Recorder) -> None:
    driver.fail_start = "droplet missing"
    agent.set_desired([make_spec()])
    agent.supervise_once()
    settle(agent, lambda: report(agent).crash_count == 4)  # three restarts at once, then 30 s
    for _ in range(3):
        agent.supervise_once()
    assert report(agent).state is InstanceState.CRASHED
    assert report(agent).crash_count == 4
    assert len(driver.entered) == 4
    assert recorder.crashes[0].reason == "failed to start: droplet missing"


def test_a_slot_no_longer_desired_stops_and_goes(
    agent: Agent, driver: FakeDriver, recorder: Recorder
) -> None:
    agent.set_desired([make_spec(0), make_spec(1)])
    settle(agent, lambda: all_running(agent, 2))
    agent.set_desired([make_spec(0)])
    agent.supervise_once()  # the stop runs in a worker thread; it may already be over here
    settle(agent, lambda: len(agent.reports()) == 1)
    assert [r.state for r in recorder.states if r.slot == "proc-1:1"][-2:] == ["STOPPING", "DOWN"]
    assert [p.spec.index for p in driver.running()] == [0]


def test_a_changed_fingerprint_replaces_the_instance(
    agent: Agent, driver: FakeDriver, clock: FakeClock
) -> None:
    agent.set_desired([make_spec()])
    settle_in(agent, InstanceState.RUNNING)
    crash_and_restart(agent, driver)
    before = report(agent)
    agent.set_desired([make_spec(env={"GREETING": "bye"})])
    settle(agent, lambda: report(agent).pid not in (None, before.pid))
    after = report(agent)
    assert after.instance_guid != before.instance_guid
    assert after.fingerprint != before.fingerprint
    assert after.crash_count == 0
    assert driver.started()[-1].env["GREETING"] == "bye"
    settle(agent, lambda: len(driver.running()) == 1)


def test_a_changed_health_check_applies_without_restart(agent: Agent, driver: FakeDriver) -> None:
    agent.set_desired([make_spec()])
    settle_in(agent, InstanceState.RUNNING)
    before = report(agent)
    agent.set_desired([make_spec(health=HealthCheckSpec(type="process"), uris=("x.localhost",))])
    agent.supervise_once()
    assert report(agent).instance_guid == before.instance_guid
    assert len(driver.started()) == 1


def test_set_desired_is_idempotent(agent: Agent, driver: FakeDriver) -> None:
    for _ in range(3):  # also while the first starts are still in flight
        agent.set_desired([make_spec(0), make_spec(1)])
        agent.supervise_once()
    settle(agent, lambda: all_running(agent, 2))
    assert len(driver.started()) == 2


def test_duplicate_slots_are_refused(agent: Agent) -> None:
    with pytest.raises(ValueError, match="twice"):
        agent.set_desired([make_spec(0), make_spec(0)])


def test_a_new_agent_adopts_running_instances(
    tmp_path: Path, driver: FakeDriver, clock: FakeClock
) -> None:
    first_listener = Recorder()
    first = Agent(
        root=tmp_path / "i", driver=driver, listener=first_listener, timing=TIMING, clock=clock
    )
    first.set_desired([make_spec(0), make_spec(1)])
    settle(first, lambda: all_running(first, 2))
    before = {r.slot: r for r in first.reports()}
    first.stop()
    assert len(driver.running()) == 2

    second_listener = Recorder()
    second = Agent(
        root=tmp_path / "i", driver=driver, listener=second_listener, timing=TIMING, clock=clock
    )
    second.start()
    try:
        adopted = {r.slot: r for r in second.reports()}
        assert {s: (r.pid, r.instance_guid, r.state) for s, r in adopted.items()} == {
            s: (r.pid, r.instance_guid, r.state) for s, r in before.items()
        }
        assert {r.slot for r in second_listener.states} == {"proc-1:0", "proc-1:1"}
        # The driver's sweep after adoption is told to keep both adopted instances.
        assert sorted(driver.swept_keeping) == sorted(r.instance_guid for r in before.values())
        second.set_desired([make_spec(0)])  # same fingerprint: kept; slot 1: stopped
        settle(second, lambda: len(second.reports()) == 1)
        assert report(second).pid == before["proc-1:0"].pid
        assert len(driver.started()) == 2
    finally:
        second.stop(stop_instances=True)
    assert driver.running() == []


def test_stop_with_instances_reports_them_down(
    agent: Agent, driver: FakeDriver, recorder: Recorder
) -> None:
    agent.set_desired([make_spec(0)])
    settle_in(agent, InstanceState.RUNNING)
    agent.stop(stop_instances=True)
    assert driver.running() == []
    assert agent.reports() == []
    assert recorder.states[-1].state is InstanceState.DOWN


def test_the_running_agent_reports_how_long_each_pass_took(
    tmp_path: Path, driver: FakeDriver, recorder: Recorder, clock: FakeClock
) -> None:
    passes: list[float] = []
    agent = Agent(
        root=tmp_path / "instances",
        driver=driver,
        listener=recorder,
        timing=TIMING,
        clock=clock,
        observe_pass=passes.append,
    )
    agent.set_desired([make_spec(0)])
    agent.start()
    try:
        settle(agent, lambda: all_running(agent, 1) and len(passes) >= 3)
    finally:
        agent.stop(stop_instances=True)
    assert all(seconds >= 0 for seconds in passes)
