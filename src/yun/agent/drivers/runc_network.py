"""The seam between the runc driver and container networking.

The driver owns a container's network *namespace*: it creates a named one (`ip netns add`, so
it is a file under /run/netns that outlives the agent and survives adoption), puts its path
into config.json, and deletes it when the instance is removed. What goes *inside* the
namespace (a veth pair onto the `yun0` bridge, an address from `YUN_SUBNET`, routes) belongs to
a `ContainerNetwork` implementation injected into the driver and tested on its own
(`yun.agent.network.CniNetwork`, whose Protocol and lease type this module re-exports).
Without one, containers share the host's network, like
process instances.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence
from pathlib import Path

from yun.agent.network import ContainerNetwork, NetworkLease, create_netns, delete_netns
from yun.agent.network.links import netns_path

NETNS_DIR = Path("/run/netns")  # where `ip netns add NAME` puts the namespace's file
CONTAINER_PORT = 8080  # what every networked instance listens on (ARCHITECTURE.md)
FIRST_EXTRA_PORT = 9000  # a networked instance's TCP-route ports: 9000, 9001, … by name order


def container_ports(names: Sequence[str], *, port: int) -> dict[str, int]:
    """Fixed ports inside a container of its own (its address is its own, so every container
    may use the same ones) for the extra port `names`, skipping `port`, the app's PORT."""
    numbers = (number for number in range(FIRST_EXTRA_PORT, 65536) if number != port)
    return dict(zip(names, numbers, strict=False))


def netns_name(container_id: str) -> str:
    """A short namespace name: `yun-` and the first 16 hex digits of the instance guid."""
    digits = "".join(ch for ch in container_id.removeprefix("yun-") if ch.isalnum())
    return f"yun-{digits[:16]}"


class HostPorts:
    """Free ports of the host for containers without a network namespace of their own, each
    handed out once until released (the kernel may offer a port again before the app binds)."""

    def __init__(self, bind: str) -> None:
        self.bind = bind
        self._lock = threading.Lock()
        self._taken: dict[int, Path] = {}  # port -> run dir of the instance holding it

    def take(self, run_dir: Path) -> int:
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((self.bind, 0))
                port = int(probe.getsockname()[1])
            with self._lock:
                if port not in self._taken:
                    self._taken[port] = run_dir
                    return port
        raise RuntimeError("no free port found")

    def hold(self, port: int, run_dir: Path) -> None:
        """Mark an adopted instance's port as taken."""
        with self._lock:
            self._taken[port] = run_dir

    def release(self, port: int | None, run_dir: Path) -> None:
        with self._lock:
            if port is not None and self._taken.get(port) == run_dir:
                del self._taken[port]


__all__ = [
    "CONTAINER_PORT",
    "FIRST_EXTRA_PORT",
    "NETNS_DIR",
    "ContainerNetwork",
    "HostPorts",
    "NetworkLease",
    "container_ports",
    "create_netns",
    "delete_netns",
    "netns_name",
    "netns_path",
]
