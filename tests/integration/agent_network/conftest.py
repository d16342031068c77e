"""Fixtures of the container-network tests: real CNI plugins, namespaces and iptables, always
cleaned up (see `network_world`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.integration.agent_network.network_world import (
    IP_FORWARD,
    PLUGIN_DIR,
    NetWorld,
    missing_requirements,
    unused_test_network,
)

from yun.agent.network import CniNetwork


@pytest.fixture(scope="session", autouse=True)
def requirements() -> Iterator[None]:
    reason = missing_requirements()
    if reason:
        pytest.skip(f"container-network tests: {reason}")
    ip_forward = IP_FORWARD.read_text()
    yield
    IP_FORWARD.write_text(ip_forward)


@pytest.fixture
def make_net(tmp_path: Path) -> Iterator[Callable[..., NetWorld]]:
    nets: list[NetWorld] = []

    def make(
        *,
        allow_app_to_app: bool = False,
        service_ports: tuple[int, int] | None = None,
        network_policies: bool = False,
    ) -> NetWorld:
        bridge, subnet = unused_test_network()
        network = CniNetwork(
            subnet=subnet,
            bridge=bridge,
            state_dir=tmp_path / bridge,
            plugin_dir=PLUGIN_DIR,
            allow_app_to_app=allow_app_to_app,
            service_ports=service_ports,
            network_policies=network_policies,
        )
        nets.append(NetWorld(network=network, subnet=subnet))
        return nets[-1]

    yield make
    for net in nets:
        net.close()


@pytest.fixture
def net(make_net: Callable[..., NetWorld]) -> NetWorld:
    return make_net()
