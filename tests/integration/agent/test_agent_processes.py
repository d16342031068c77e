"""The agent running real instances through the process driver: health, crashes, adoption, logs."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from tests.integration.agent.agent_world import (
    FAST,
    LISTENS_ELSEWHERE,
    Agents,
    Listener,
    group_alive,
    running,
    served_port,
    spec,
    wait_for,
)

from yun.agent import HealthCheckSpec, InstanceReport, InstanceState

pytestmark = pytest.mark.integration

BUILDER_LAUNCHER = Path(__file__).resolve().parents[3] / "src/yun/builder/launcher.sh"


def get(report: InstanceReport, path: str = "/") -> httpx.Response:
    return httpx.get(f"http://{report.address}:{report.port}{path}", timeout=5)


def test_three_instances_run_on_distinct_ports_and_answer(agents: Agents, droplet: Path) -> None:
    agent, _ = agents.new()
    agent.set_desired([spec(droplet, index) for index in range(3)])
    reports = running(agent, 3)
    assert len({r.port for r in reports}) == 3
    assert len({r.pid for r in reports}) == 3
    for index, report in enumerate(reports):
        assert get(report).text == f"index {index}"
        env = get(report, "/env").json()
        assert env["PORT"] == str(report.port)
        assert env["CF_INSTANCE_GUID"] == report.instance_guid
        assert env["MEMORY_LIMIT"] == "256m"
        assert env["HOME"].endswith("/app")
        assert json.loads(env["VCAP_APPLICATION"])["instance_index"] == index
        assert env["GREETING"] == "hello"


def test_kill_9_is_a_crash_and_the_instance_comes_back(agents: Agents, droplet: Path) -> None:
    agent, listener = agents.new()
    agent.set_desired([spec(droplet)])
    (before,) = running(agent, 1)
    assert before.pid is not None
    os.kill(before.pid, signal.SIGKILL)
    (crash,) = wait_for(listener.crash_reports)
    assert crash.instance_guid == before.instance_guid
    assert crash.exit_code == 137
    assert crash.reason == "exited with 137 (SIGKILL)"
    assert crash.crash_count == 1
    wait_for(lambda: not group_alive(before.pid or 0))  # the app under the launcher went too
    (after,) = wait_for(lambda: [r for r in running(agent, 1) if r.pid != before.pid])
    assert after.instance_guid != before.instance_guid
    assert get(after).text == "index 0"
    assert not Path(agent.root, before.instance_guid).exists()


def test_an_exit_wakes_an_idle_agent(agents: Agents, droplet: Path) -> None:
    """Passes a minute apart, and a crash is still seen at once: the leader's pidfd wakes
    the agent (the instance then restarts on the quick schedule of a starting one)."""
    idle = dataclasses.replace(
        FAST, check_interval=60.0, idle_check_interval=60.0, liveness_interval=60.0
    )
    agent, listener = agents.new(timing=idle)
    agent.set_desired([spec(droplet)])
    (before,) = running(agent, 1)
    time.sleep(0.3)  # the agent is asleep for its minute now
    assert before.pid is not None
    os.kill(before.pid, signal.SIGKILL)
    (crash,) = wait_for(listener.crash_reports)
    assert crash.exit_code == 137
    (after,) = wait_for(lambda: [r for r in running(agent, 1) if r.pid != before.pid])
    assert get(after).text == "index 0"


def test_http_check_answering_500_never_runs(agents: Agents, droplet: Path) -> None:
    agent, listener = agents.new()
    health = HealthCheckSpec(type="http", endpoint="/health", timeout=1.0)
    agent.set_desired([spec(droplet, env={"HEALTH_STATUS": "500"}, health=health)])
    crash = wait_for(listener.crash_reports)[0]
    assert crash.reason == (
        "GET /health never answered 200 within 1s: it answered 500 Internal Server Error"
    )
    assert InstanceState.RUNNING not in {r.state for r in listener.states}


def _first_crash_and_ports(listener: Listener) -> tuple[InstanceReport, int, int]:
    """The first crash, the $PORT of its instance, and the port its app said it serves on."""
    crash = wait_for(listener.crash_reports)[0]
    (port,) = {r.port for r in listener.states if r.instance_guid == crash.instance_guid and r.port}
    elsewhere = wait_for(lambda: served_port(listener.lines("APP/PROC/WEB/0")))
    assert elsewhere != port
    return crash, port, elsewhere


def test_an_app_listening_elsewhere_is_told_both_ports(agents: Agents, droplet: Path) -> None:
    agent, listener = agents.new()
    health = HealthCheckSpec(type="port", timeout=1.0)
    agent.set_desired([spec(droplet, command=LISTENS_ELSEWHERE, health=health)])
    crash, port, elsewhere = _first_crash_and_ports(listener)
    assert crash.reason == (
        f"nothing accepted connections on port {port} ($PORT) within 1s; "
        f"the app listens on port {elsewhere} instead: make it listen on $PORT ({port})"
    )
    assert f"Instance {crash.instance_guid} crashed: {crash.reason}" in listener.lines("CELL/0")


def test_an_http_check_of_an_app_listening_elsewhere_is_refused(
    agents: Agents, droplet: Path
) -> None:
    agent, listener = agents.new()
    health = HealthCheckSpec(type="http", endpoint="/health", timeout=1.0)
    agent.set_desired([spec(droplet, command=LISTENS_ELSEWHERE, health=health)])
    crash, port, elsewhere = _first_crash_and_ports(listener)
    assert crash.reason == (
        f"GET /health never answered 200 within 1s: connection refused on port {port} ($PORT); "
        f"the app listens on port {elsewhere} instead: make it listen on $PORT ({port})"
    )


def test_http_check_answering_200_runs(agents: Agents, droplet: Path) -> None:
    agent, _ = agents.new()
    health = HealthCheckSpec(type="http", endpoint="/health", timeout=5.0)
    agent.set_desired([spec(droplet, health=health)])
    running(agent, 1)


def test_worker_with_process_check(agents: Agents, droplet: Path) -> None:
    agent, listener = agents.new()
    worker = spec(
        droplet,
        process_type="worker",
        command="python3 worker.py",
        health=HealthCheckSpec(type="process"),
        uris=(),
    )
    agent.set_desired([worker])
    (report,) = running(agent, 1)
    wait_for(lambda: "working 2" in listener.lines("APP/PROC/WORKER/0"))
    assert report.pid is not None and group_alive(report.pid)
    assert listener.crash_reports() == []


def test_crash_at_start_restarts_three_times_then_waits(agents: Agents, droplet: Path) -> None:
    agent, listener = agents.new()
    agent.set_desired([spec(droplet, command="echo boom; exit 3")])
    wait_for(lambda: len(listener.crashes) >= 4)
    crashed = agent.reports()[0]
    assert crashed.state is InstanceState.CRASHED
    assert crashed.crash_count == 4
    time.sleep(FAST.first_backoff / 2)
    assert len(listener.crashes) == 4  # waiting out the backoff, not restarting
    wait_for(lambda: len(listener.crashes) >= 5)
    times = [t for t, _ in listener.crashes]
    assert times[3] - times[0] < FAST.first_backoff  # three immediate restarts
    # The backoff counts from the pass that saw the crash, a few ms before it was reported.
    assert times[4] - times[3] >= FAST.first_backoff - 0.05
    reports = listener.crash_reports()
    assert [r.exit_code for r in reports[:5]] == [3] * 5
    assert [r.reason for r in reports[:5]] == ["exited with 3"] * 5
    assert "boom" in listener.lines("APP/PROC/WEB/0")


def test_fingerprint_change_replaces_the_instance(agents: Agents, droplet: Path) -> None:
    agent, _ = agents.new()
    agent.set_desired([spec(droplet)])
    (before,) = running(agent, 1)
    agent.set_desired([spec(droplet, env={"GREETING": "bye"})])
    (after,) = wait_for(lambda: [r for r in running(agent, 1) if r.pid != before.pid])
    assert after.fingerprint != before.fingerprint
    assert get(after, "/env").json()["GREETING"] == "bye"
    wait_for(lambda: not group_alive(before.pid or 0))


def test_a_new_agent_adopts_running_instances(agents: Agents, droplet: Path) -> None:
    first, first_listener = agents.new()
    first.set_desired([spec(droplet, 0), spec(droplet, 1)])
    before = running(first, 2)
    wait_for(lambda: len(first_listener.lines("APP/PROC/WEB/0")) >= 3)
    first.stop()
    for report in before:
        assert get(report).status_code == 200  # still serving with no agent at all

    second, second_listener = agents.new()
    after = running(second, 2)
    assert [(r.pid, r.instance_guid) for r in after] == [(r.pid, r.instance_guid) for r in before]
    second.set_desired([spec(droplet, 0), spec(droplet, 1)])  # same specs: nothing restarts
    time.sleep(0.5)
    assert [r.pid for r in running(second, 2)] == [r.pid for r in before]
    assert InstanceState.STARTING not in {r.state for r in second_listener.states}
    assert get(after[0], "/adopted").status_code == 200
    wait_for(lambda: "request /adopted" in second_listener.lines("APP/PROC/WEB/0"))
    assert "hello 1" not in second_listener.lines("APP/PROC/WEB/0")  # not sent twice


def test_app_output_reaches_the_listener_in_order(agents: Agents, droplet: Path) -> None:
    agent, listener = agents.new()
    agent.set_desired([spec(droplet, env={"HELLO_LINES": "200"})])
    running(agent, 1)
    expected = [f"hello {n}" for n in range(1, 201)]
    wait_for(lambda: listener.lines("APP/PROC/WEB/0")[:200] == expected)
    wait_for(lambda: "starting up" in listener.lines("APP/PROC/WEB/0"))  # stderr too
    cell = listener.lines("CELL/0")
    assert cell[0].startswith("Starting instance")
    assert any("became healthy" in line for line in cell)


def test_pre_running_hooks_run_before_every_start(agents: Agents, droplet: Path) -> None:
    agent, _ = agents.new()
    hooks = ["echo migrated >> migrated.txt", "echo again >> migrated.txt"]
    agent.set_desired([spec(droplet, pre_running=hooks)])
    (first,) = running(agent, 1)
    assert get(first, "/file").text == "migrated\nagain\n"
    assert "YUN_COMMAND" not in get(first, "/env").json()
    assert first.pid is not None
    os.kill(first.pid, signal.SIGKILL)
    (second,) = wait_for(lambda: [r for r in running(agent, 1) if r.pid != first.pid])
    assert get(second, "/file").text == "migrated\nagain\n"  # a fresh app dir, hooks again


def test_failing_pre_running_hook_is_a_crash(agents: Agents, droplet: Path) -> None:
    agent, listener = agents.new()
    agent.set_desired([spec(droplet, pre_running=["echo no database; exit 4"])])
    crash = wait_for(listener.crash_reports)[0]
    assert crash.reason == "pre-running hook failed"
    assert crash.exit_code == 4
    wait_for(lambda: "no database" in listener.lines("APP/PROC/WEB/0"))  # logs come on their own


def test_stop_with_instances_leaves_no_process(agents: Agents, droplet: Path) -> None:
    agent, listener = agents.new()
    agent.set_desired([spec(droplet, 0), spec(droplet, 1)])
    pgids = [r.pid or 0 for r in running(agent, 2)]
    assert all(group_alive(pgid) for pgid in pgids)
    agent.stop(stop_instances=True)
    assert not any(group_alive(pgid) for pgid in pgids)
    assert list(agent.root.iterdir()) == []
    assert {r.state for r in listener.states[-2:]} == {InstanceState.DOWN}


def test_removed_slot_stops_its_instance(agents: Agents, droplet: Path) -> None:
    agent, _ = agents.new()
    agent.set_desired([spec(droplet, 0), spec(droplet, 1)])
    reports = running(agent, 2)
    agent.set_desired([spec(droplet, 0)])
    wait_for(lambda: len(agent.reports()) == 1)
    assert not group_alive(reports[1].pid or 0)
    assert group_alive(reports[0].pid or 0)


@pytest.mark.skipif(not BUILDER_LAUNCHER.exists(), reason="yun.builder's launcher is not there")
def test_runs_with_the_builders_launcher(agents: Agents, droplet: Path) -> None:
    agent, listener = agents.new(launcher=BUILDER_LAUNCHER)
    agent.set_desired([spec(droplet)])
    (report,) = running(agent, 1)
    assert get(report).text == "index 0"
    assert report.pid is not None
    os.kill(report.pid, signal.SIGTERM)  # the launcher passes it on; the app dies of it
    crash = wait_for(listener.crash_reports)[0]
    assert crash.exit_code == 143
