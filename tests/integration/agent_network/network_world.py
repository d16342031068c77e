"""The world of the container-network tests: namespaces standing in for containers, servers and
probes run inside them, and throwaway networks.

Every network uses its own bridge `yuntest<N>` and subnet 10.251.<N>.0/24 so it never touches a
real Yun (`yun0`, 10.244.0.0/16). Traffic only goes between the host and namespaces the tests
create. Namespaces, servers, the bridge, Yun's chains and the bridge plugin's NAT rules are
removed afterwards, and net.ipv4.ip_forward (which the bridge plugin turns on) is restored.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from yun.agent.network import CniNetwork, NetworkLease, create_netns, delete_netns

PLUGIN_DIR = Path("/usr/lib/cni")
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
PROBE_TIMEOUT = 1.0


def missing_requirements() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces, bridges and iptables rules"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"needs the {tool!r} command"
    for plugin in ("bridge", "host-local", "loopback"):
        if not os.access(PLUGIN_DIR / plugin, os.X_OK):
            return f"needs the CNI plugin {PLUGIN_DIR / plugin} (containernetworking-plugins)"
    return None


# Answers every connection with its name, so a test sees which namespace it reached.
SERVER = """
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", int(sys.argv[1])))
server.listen()
print("ready", flush=True)
while True:
    conn, _ = server.accept()
    conn.sendall(sys.argv[2].encode())
    conn.close()
"""

# Connects from inside a namespace; prints "connected <greeting>" or "failed <error>".
PROBE = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as c:
        c.settimeout(float(sys.argv[3]))
        print("connected", c.recv(100).decode())
except OSError as exc:
    print("failed", type(exc).__name__, exc)
"""


@dataclass
class Sandbox:
    """A network namespace standing in for a container."""

    name: str
    container_id: str
    path: Path
    lease: NetworkLease | None = None
    servers: list[subprocess.Popen[str]] = field(default_factory=list)

    def serve(self, port: int = 8080) -> None:
        argv = ["ip", "netns", "exec", self.name, sys.executable, "-c", SERVER, str(port)]
        proc = subprocess.Popen([*argv, self.name], stdout=subprocess.PIPE, text=True)
        self.servers.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

    def probe(self, host: str, port: int) -> str:
        argv = ["ip", "netns", "exec", self.name, sys.executable, "-c", PROBE]
        done = subprocess.run(
            [*argv, host, str(port), str(PROBE_TIMEOUT)],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout.strip()

    def stop(self) -> None:
        for proc in self.servers:
            proc.terminate()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
        self.servers.clear()


@dataclass
class NetWorld:
    network: CniNetwork
    subnet: str
    sandboxes: list[Sandbox] = field(default_factory=list)

    def sandbox(self, *, attach: bool = True) -> Sandbox:
        name = f"yuntest-{uuid.uuid4().hex[:8]}"
        box = Sandbox(name=name, container_id=f"c-{name}", path=create_netns(name))
        self.sandboxes.append(box)
        if attach:
            box.lease = self.network.attach(box.container_id, box.path)
        return box

    def close(self) -> None:
        for box in self.sandboxes:
            box.stop()
        try:
            self.network.teardown()
        finally:
            for box in self.sandboxes:
                delete_netns(box.name)


def unused_test_network() -> tuple[str, str]:
    """A bridge name and /24 that no link or route on this machine uses yet."""
    for _ in range(50):
        n = random.randint(100, 250)
        bridge, subnet = f"yuntest{n}", f"10.251.{n}.0/24"
        link = subprocess.run(["ip", "link", "show", "dev", bridge], capture_output=True)
        routes = subprocess.run(
            ["ip", "-4", "route", "show", "match", subnet], capture_output=True, text=True
        )
        taken = any(f"10.251.{n}." in line for line in routes.stdout.splitlines())
        if link.returncode != 0 and not taken:
            return bridge, subnet
    raise RuntimeError("no free test bridge/subnet found")


class HostServer:
    """A TCP server in the test process, standing in for the platform's API or HAProxy stats:
    answers "host" to every connection until closed."""

    def __init__(self, host: str, port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen()
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"host")

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(timeout=5)


def greeting(address: str, port: int) -> str:
    """Connect from the host (as the router does) and return what the server said."""
    with socket.create_connection((address, port), timeout=5) as conn:
        conn.settimeout(5)
        return conn.recv(100).decode()


def iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, check=False)
