"""`Agent.usage`: the live instance of a slot, measured by the driver when asked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.agent.agent_fakes import FakeClock, FakeDriver, Recorder, make_spec

from yun.agent import Agent, Handle, InstanceState, Usage
from yun.settings import Timing


class MeasuringDriver(FakeDriver):
    """Reports a pid-derived memory use, so a test can tell which run was measured."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = False

    def usage(self, handle: Handle, *, disk: bool = True) -> Usage | None:
        if self.broken:
            raise OSError("cannot read /proc")
        return Usage(memory_bytes=(handle.pid or 0) * 1000, disk_bytes=4096)


@pytest.fixture
def driver() -> Iterator[MeasuringDriver]:
    fake = MeasuringDriver()
    yield fake
    fake.close()


@pytest.fixture
def agent(tmp_path: Path, driver: MeasuringDriver) -> Iterator[Agent]:
    agent = Agent(
        root=tmp_path / "instances",
        driver=driver,
        listener=Recorder(),
        timing=Timing(),
        clock=FakeClock(),
    )
    yield agent
    agent.stop(stop_instances=True)


def running_pid(agent: Agent, slot: str = "proc-1:0") -> int:
    """Run passes until the slot's instance runs (starts may finish in a worker thread)."""
    deadline = time.monotonic() + 5
    while True:
        agent.supervise_once()
        found = [r for r in agent.reports() if r.slot == slot]
        if found and found[0].state is InstanceState.RUNNING and found[0].pid is not None:
            return found[0].pid
        assert time.monotonic() < deadline, "the instance never ran"
        time.sleep(0.01)


def test_usage_of_a_running_slot_comes_from_its_current_run(agent: Agent) -> None:
    agent.set_desired([make_spec(0)])
    pid = running_pid(agent)
    assert agent.usage("proc-1:0") == Usage(memory_bytes=pid * 1000, disk_bytes=4096)


def test_no_usage_for_unknown_or_crashed_slots(agent: Agent, driver: MeasuringDriver) -> None:
    assert agent.usage("proc-1:0") is None
    agent.set_desired([make_spec(0)])
    pid = running_pid(agent)
    driver.fail_start = "no droplet"  # so the crashed instance cannot come back
    driver.exit(pid, 1)
    deadline = time.monotonic() + 5
    while (report := agent.reports()[0]).state is not InstanceState.CRASHED:
        assert time.monotonic() < deadline, "the crash was never seen"
        agent.supervise_once()
        time.sleep(0.01)
    assert report.pid is None
    assert agent.usage("proc-1:0") is None
    assert agent.usage("proc-9:0") is None


def test_a_failing_measurement_is_none_not_an_error(agent: Agent, driver: MeasuringDriver) -> None:
    agent.set_desired([make_spec(0)])
    running_pid(agent)
    driver.broken = True
    assert agent.usage("proc-1:0") is None
