"""Fixtures of the staging-container tests: real runc, real CNI plugins on a throwaway bridge,
always cleaned up. They need root, runc and the CNI plugins, and skip with the reason otherwise."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.agent_network.network_world import (
    IP_FORWARD,
    PLUGIN_DIR,
    missing_requirements,
    unused_test_network,
)

from yun.agent.drivers.runc_staging import RuncStaging
from yun.agent.network import CniNetwork


@pytest.fixture(scope="session", autouse=True)
def requirements() -> Iterator[None]:
    reason = missing_requirements()
    if reason is None and shutil.which("runc") is None:
        reason = "needs the runc binary"
    if reason:
        pytest.skip(f"staging containers: {reason}")
    ip_forward = IP_FORWARD.read_text()
    yield
    IP_FORWARD.write_text(ip_forward)


@pytest.fixture
def network(tmp_path: Path) -> Iterator[CniNetwork]:
    bridge, subnet = unused_test_network()
    net = CniNetwork(
        subnet=subnet, bridge=bridge, state_dir=tmp_path / "network", plugin_dir=PLUGIN_DIR
    )
    try:
        yield net
    finally:
        net.teardown()


@pytest.fixture
def sandbox(tmp_path: Path, network: CniNetwork) -> Iterator[RuncStaging]:
    staging = RuncStaging(state_root=tmp_path / "staging-runc", network=network)
    try:
        yield staging
    finally:
        staging.sweep()
