"""Many runc instances started at once by the real agent: every slot comes up once, and stopping
the agent while starts are still under way leaves no container, namespace or address behind."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.agent.agent_world import FAST, Listener, running, spec
from tests.integration.agent_network.network_world import (
    IP_FORWARD,
    PLUGIN_DIR,
    missing_requirements,
    unused_test_network,
)
from tests.integration.agent_runc.runc_world import Containers

from yun.agent import Agent
from yun.agent.drivers.droplet_cache import DROPLET_CACHE
from yun.agent.drivers.runc import container_id
from yun.agent.drivers.runc_network import NETNS_DIR, netns_name
from yun.agent.network import CniNetwork

pytestmark = pytest.mark.integration

SLOTS = 10  # more than the agent's start workers: some starts wait in its queue


@pytest.fixture
def network(tmp_path: Path) -> Iterator[CniNetwork]:
    reason = missing_requirements()
    if reason:
        pytest.skip(f"container network: {reason}")
    ip_forward = IP_FORWARD.read_text()
    bridge, subnet = unused_test_network()
    made = CniNetwork(
        subnet=subnet, bridge=bridge, state_dir=tmp_path / "network", plugin_dir=PLUGIN_DIR
    )
    try:
        yield made
    finally:
        made.teardown()
        IP_FORWARD.write_text(ip_forward)


def namespaces_left(listener: Listener) -> list[str]:
    """The network namespaces of the instances the agent launched that still exist (other
    tests on this host may add and remove their own meanwhile)."""
    launched = [
        line.removeprefix("Starting instance ")
        for _, line in listener.logs
        if line.startswith("Starting instance ")
    ]
    names = [netns_name(container_id(guid)) for guid in launched]
    return [name for name in names if (NETNS_DIR / name).exists()]


def run_dirs(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if p.is_dir() and p.name != DROPLET_CACHE]


def test_slots_set_at_once_all_run_each_started_once(containers: Containers, droplet: Path) -> None:
    listener = Listener()
    agent = Agent(
        root=containers.root / "agent", driver=containers.driver, listener=listener, timing=FAST
    )
    try:
        agent.start()
        agent.set_desired([spec(droplet, index) for index in range(SLOTS)])
        reports = running(agent, SLOTS)
        assert len(containers.list_ids()) == SLOTS
        assert len({r.port for r in reports}) == SLOTS
        starts = collections.Counter(
            source for source, line in listener.logs if line.startswith("Starting instance")
        )
        assert starts == {f"CELL/{index}": 1 for index in range(SLOTS)}
        assert listener.crash_reports() == []
    finally:
        agent.stop(stop_instances=True)
    assert containers.list_ids() == []


def test_stopping_while_starts_are_under_way_leaves_nothing_behind(
    containers: Containers, droplet: Path, network: CniNetwork
) -> None:
    root = containers.root / "agent"
    driver = containers.new_driver(network=network)
    listener = Listener()
    agent = Agent(root=root, driver=driver, listener=listener, timing=FAST)
    agent.set_desired([spec(droplet, index) for index in range(SLOTS)])
    agent.supervise_once()  # launches every start; none has returned yet
    agent.stop(stop_instances=True)
    came_up = {r.slot for r in listener.states if r.state == "STARTING" and r.pid is not None}
    assert came_up  # the starts under way finished (how many depends on timing)
    last = {r.slot: r.state for r in listener.states}
    assert len(last) == SLOTS
    assert set(last.values()) == {"DOWN"}
    assert agent.reports() == []
    assert containers.list_ids() == []
    assert namespaces_left(listener) == []
    assert network.attachments() == {}
    assert run_dirs(root) == []
