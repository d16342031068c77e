"""The iproute2 side of container networking: namespaces, the bridge and its ports.

`create_netns`/`delete_netns` make the named namespaces (`/run/netns/<name>`) that drivers and
tests hand to `CniNetwork.attach`. The bridge is created by Yun before the bridge plugin sees it,
so IPv6 can be switched off on it first: otherwise instances could reach host services listening
on `[::]` through the bridge's link-local address, past the IPv4-only iptables rules. Each
instance's bridge port is then marked `isolated`, which stops instance-to-instance frames in the
bridge itself, whether or not bridged traffic passes through iptables (br_netfilter).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from yun.agent.network.base import NetworkError

NETNS_DIR = Path("/run/netns")
NETNS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
IP_TIMEOUT = 30.0


def run_ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = ["ip", *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=IP_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetworkError(f"{shlex.join(argv)}: {exc}") from exc
    if check and done.returncode != 0:
        raise NetworkError(f"{shlex.join(argv)} failed: {done.stderr.strip()}")
    return done


def netns_path(name: str) -> Path:
    if not NETNS_NAME.match(name):
        raise NetworkError(f"invalid network namespace name {name!r}")
    return NETNS_DIR / name


def create_netns(name: str) -> Path:
    """Create the named network namespace (idempotent) and return its path."""
    path = netns_path(name)
    if not path.exists():
        run_ip("netns", "add", name)
    return path


def delete_netns(name: str) -> None:
    """Delete the named network namespace; a missing one is fine."""
    if netns_path(name).exists():
        run_ip("netns", "delete", name)


def link_exists(name: str) -> bool:
    return run_ip("link", "show", "dev", name, check=False).returncode == 0


def ensure_bridge(name: str) -> None:
    """Create the bridge if missing and switch IPv6 off on it (see the module docstring)."""
    if not link_exists(name):
        done = run_ip("link", "add", "name", name, "type", "bridge", check=False)
        if done.returncode != 0 and not link_exists(name):  # lost a race: fine if it exists now
            raise NetworkError(f"cannot create bridge {name}: {done.stderr.strip()}")
    disable_ipv6 = Path("/proc/sys/net/ipv6/conf") / name / "disable_ipv6"
    if disable_ipv6.exists() and disable_ipv6.read_text().strip() != "1":
        disable_ipv6.write_text("1\n")


def ensure_address(name: str, cidr: str) -> None:
    """Give link `name` the address `cidr` (e.g. 10.244.0.1/16) unless it has it, and bring
    it up."""
    shown = run_ip("-o", "addr", "show", "dev", name).stdout
    if f" {cidr} " not in shown:
        done = run_ip("addr", "add", cidr, "dev", name, check=False)
        if (
            done.returncode != 0
            and f" {cidr} " not in run_ip("-o", "addr", "show", "dev", name).stdout
        ):
            raise NetworkError(f"cannot give {name} the address {cidr}: {done.stderr.strip()}")
    run_ip("link", "set", "dev", name, "up")


def delete_link(name: str) -> None:
    if link_exists(name):
        run_ip("link", "delete", "dev", name)


def isolate_port(name: str) -> None:
    """Mark a bridge port isolated: isolated ports cannot exchange frames with each other."""
    run_ip("link", "set", "dev", name, "type", "bridge_slave", "isolated", "on")


def open_ports(bridge: str) -> None:
    """Clear the isolated flag of every port of `bridge` (`isolate_port` undone), where
    nftables rather than isolation now keeps instances apart."""
    ports = Path("/sys/class/net") / bridge / "brif"
    for port in sorted(ports.iterdir()) if ports.is_dir() else ():
        flag = port / "isolated"
        if flag.exists() and flag.read_text().strip() == "1":
            run_ip("link", "set", "dev", port.name, "type", "bridge_slave", "isolated", "off")
