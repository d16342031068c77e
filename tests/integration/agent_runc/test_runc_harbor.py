"""A runc instance's TCP-route ports: free host ports without a network of its own, fixed ones
(9000, …) at its own address with one; either way the app hears on them what the router sends."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers import write_droplet
from tests.integration.agent.agent_world import wait_for
from tests.integration.agent_network.network_world import (
    IP_FORWARD,
    PLUGIN_DIR,
    missing_requirements,
    unused_test_network,
)
from tests.integration.agent_runc.runc_world import Containers, runc_spec, wait_http

from yun.agent import Handle
from yun.agent.network import CniNetwork

pytestmark = pytest.mark.integration

ECHO_APP = Path(__file__).resolve().parents[3] / "examples" / "tcp-echo" / "app.py"


@pytest.fixture
def echo_droplet(tmp_path: Path) -> Path:
    return write_droplet(tmp_path / "echo.tgz", {"app/app.py": ECHO_APP.read_text()})


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


def echo(handle: Handle, name: str) -> str | None:
    """The instance's answer to one line on its port `name`; None while nothing listens."""
    assert handle.address is not None
    try:
        with socket.create_connection((handle.address, handle.ports[name]), timeout=3) as sock:
            sock.sendall(b"hi\n")
            return sock.makefile("rb").readline().decode().strip() or None
    except OSError:
        return None


def test_without_a_network_the_port_is_a_free_host_port(
    containers: Containers, echo_droplet: Path
) -> None:
    handle = containers.start(runc_spec(echo_droplet, command="python3 app.py", ports=["tcp"]))
    assert handle.address == "127.0.0.1"
    assert set(handle.ports) == {"tcp"} and handle.ports["tcp"] != handle.port
    wait_http(handle)
    assert wait_for(lambda: echo(handle, "tcp"), timeout=10) == "0: hi"


def test_with_a_network_the_ports_are_fixed_at_the_containers_address(
    containers: Containers, echo_droplet: Path, network: CniNetwork
) -> None:
    driver = containers.new_driver(network=network)
    spec = runc_spec(echo_droplet, command="python3 app.py", ports=["tcp"])
    handle = containers.start(spec, driver=driver)
    assert handle.port == 8080 and handle.ports == {"tcp": 9000}
    assert handle.address is not None and handle.address != "127.0.0.1"
    wait_http(handle)
    assert wait_for(lambda: echo(handle, "tcp"), timeout=10) == "0: hi"
