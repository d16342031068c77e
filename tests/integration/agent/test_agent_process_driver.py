"""The process driver on its own: pid reuse, adoption records, exit status, listening ports."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.agent.agent_world import (
    LISTENS_ELSEWHERE,
    Agents,
    group_alive,
    running,
    served_port,
    spec,
    wait_for,
)

from yun.agent import Handle, ProcessDriver
from yun.agent.env import instance_environment

pytestmark = pytest.mark.integration


@pytest.fixture
def started(
    tmp_path: Path, launcher: Path, droplet: Path
) -> Iterator[tuple[ProcessDriver, Handle]]:
    driver = ProcessDriver(launcher)
    instance = spec(droplet, command="sleep 30")
    env = instance_environment(instance, instance_guid="guid-1")
    handle = driver.start(instance, run_dir=tmp_path / "guid-1", env=env)
    yield driver, handle
    driver.stop(handle, grace=0)
    driver.remove(handle)


def test_a_reused_pid_is_not_ours(started: tuple[ProcessDriver, Handle]) -> None:
    driver, handle = started
    saved = driver.to_dict(handle)
    saved["data"]["starttime"] += 1  # as if the pid now belonged to another process
    other = ProcessDriver(driver.launcher)
    impostor = other.adopt(saved)
    assert impostor is not None
    assert not other.alive(impostor)
    other.stop(impostor, grace=0)
    assert driver.alive(handle)  # the real owner of the pid was not signalled


def test_adopted_handle_tracks_the_same_process(started: tuple[ProcessDriver, Handle]) -> None:
    driver, handle = started
    other = ProcessDriver(driver.launcher)
    adopted = other.adopt(driver.to_dict(handle))
    assert adopted == handle
    assert other.alive(adopted)
    assert other.adopt({"pid": "x"}) is None


def test_exit_status_of_a_killed_app(started: tuple[ProcessDriver, Handle]) -> None:
    driver, handle = started
    assert handle.pid is not None
    os.killpg(handle.pid, signal.SIGTERM)
    wait_for(lambda: not driver.alive(handle))
    status = driver.exit_status(handle)
    assert status.code == 143
    assert status.reason == "exited with 143 (SIGTERM)"


def test_an_instance_that_died_unwatched_is_a_crash_for_the_next_agent(
    agents: Agents, droplet: Path
) -> None:
    first, _ = agents.new()
    first.set_desired([spec(droplet)])
    (before,) = running(first, 1)
    first.stop()
    assert before.pid is not None
    os.killpg(before.pid, signal.SIGKILL)
    wait_for(lambda: not group_alive(before.pid or 0))

    second, listener = agents.new()
    (crash,) = wait_for(listener.crash_reports)
    assert crash.instance_guid == before.instance_guid
    (after,) = wait_for(lambda: [r for r in running(second, 1) if r.pid != before.pid])
    assert after.instance_guid != before.instance_guid


def test_listening_ports_are_those_of_the_instances_processes(
    tmp_path: Path, launcher: Path, droplet: Path
) -> None:
    driver = ProcessDriver(launcher)
    instance = spec(droplet, command=LISTENS_ELSEWHERE)
    env = instance_environment(instance, instance_guid="guid-2")
    handle = driver.start(instance, run_dir=tmp_path / "guid-2", env=env)
    try:
        with socket.socket() as ours:  # a listener of the agent's own, not the instance's
            ours.bind(("127.0.0.1", 0))
            ours.listen()
            port = wait_for(lambda: served_port(handle.logs["OUT"].read_text().splitlines()))
            assert wait_for(lambda: driver.listening_ports(handle)) == {port}
            assert handle.port not in {port, ours.getsockname()[1]}
    finally:
        driver.stop(handle, grace=0)
    assert driver.listening_ports(handle) == set()
    driver.remove(handle)
