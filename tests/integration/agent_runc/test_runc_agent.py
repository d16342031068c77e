"""The real agent (supervisor) running instances in runc containers: RUNNING, a crash and its
restart, pre-running hooks, adoption by a second agent, and nothing left after stopping."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.integration.agent.agent_world import FAST, Listener, running, wait_for
from tests.integration.agent_runc.runc_world import Containers, runc_spec

from yun.agent import Agent, InstanceReport, InstanceState
from yun.agent.drivers.droplet_cache import DROPLET_CACHE

pytestmark = pytest.mark.integration


def get(report: InstanceReport, path: str = "/") -> httpx.Response:
    return httpx.get(f"http://{report.address}:{report.port}{path}", timeout=5)


def test_agent_runs_restarts_and_hands_over_runc_instances(
    containers: Containers, droplet: Path
) -> None:
    root = containers.root / "agent"
    listener = Listener()
    agent = Agent(root=root, driver=containers.driver, listener=listener, timing=FAST)
    later: Agent | None = None
    try:
        agent.start()
        hooked = runc_spec(droplet, pre_running=["echo migrated > migrated.txt"])
        agent.set_desired([hooked])
        (first,) = running(agent, 1)
        assert get(first, "/file").text == "migrated\n"
        assert get(first).text == f"hello from {first.instance_guid}"

        with pytest.raises(httpx.HTTPError):
            get(first, "/crash")
        (crash,) = wait_for(listener.crash_reports)
        assert crash.instance_guid == first.instance_guid
        assert (crash.exit_code, crash.reason) == (3, "exited with 3")
        (second,) = running(agent, 1)
        assert second.instance_guid != first.instance_guid
        assert second.crash_count == 1
        assert get(second).status_code == 200
        wait_for(lambda: len(containers.list_ids()) == 1)  # the crashed one was deleted

        agent.stop()  # the container keeps running; a new agent adopts it
        assert get(second).status_code == 200
        later = Agent(root=root, driver=containers.new_driver(), listener=Listener(), timing=FAST)
        later.start()
        (adopted,) = running(later, 1)
        assert adopted.instance_guid == second.instance_guid
        assert adopted.state is InstanceState.RUNNING
        later.stop(stop_instances=True)
        assert containers.list_ids() == []
        run_dirs = [p for p in root.iterdir() if p.is_dir() and p.name != DROPLET_CACHE]
        assert run_dirs == []  # the unpacked droplet stays cached for the next start
    finally:
        agent.stop(stop_instances=True)
        if later is not None:
            later.stop(stop_instances=True)
