"""Network policies between instances on the bridge, and their access to bound services,
enforced with nftables.

Cloud Foundry's model: instances of different apps cannot open connections to each other unless
a policy allows it — a source app, a destination app, a protocol (tcp or udp) and a port range
on the destination. Here each app is an nftables set of its instances' addresses and each policy
one rule between two sets, so instances coming and going change only set elements.

The built-in services' servers listen on the host's bridge address, on ports of one range that
the iptables chains open to instances. Within that range an instance may only reach the ports
of the services bound to its app: a set of (instance address, port) pairs, the rest dropped.

Connections leaving the bridge (to other hosts) follow the application security groups of the
instance's space (`yun.egress`): a set of the space's instances, jumping to a chain of the
groups' rules that ends in a drop. Addresses in no space's set (staging containers) are not
held back: buildpacks fetch packages.

Yun writes one table of its own, `inet yun_<bridge>`, and only ever replaces that whole table in
one `nft -f` transaction (`table; delete table; table {...}`): the kernel swaps it atomically, so
there is no moment without rules, and tables and chains others wrote are never read, flushed or
touched. Bridged IPv4 reaches the inet family's forward hook through br_netfilter
(`net.bridge.bridge-nf-call-iptables`, set to 1 here), which also tracks connections: replies of
an allowed connection pass, and established connections outlive a policy's removal, as in Cloud
Foundry. The chain runs before iptables' filter table (priority filter - 10); the last rule drops
whatever bridge-to-bridge traffic no policy allowed.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from yun.agent.network.base import NetworkError
from yun.egress import EgressRule

log = logging.getLogger(__name__)

NFT_TIMEOUT = 30.0
BRIDGE_NF = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
PROTOCOLS = ("tcp", "udp")


@dataclass(frozen=True, order=True)
class Allow:
    """Instances of `source` may open connections to `destination`'s on ports start-end."""

    source: str
    destination: str
    protocol: str
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r}: tcp or udp")
        if not 1 <= self.start <= self.end <= 65535:
            raise ValueError(f"ports {self.start}-{self.end}: 1-65535, start ≤ end")


def table_name(bridge: str) -> str:
    return "yun_" + re.sub(r"[^A-Za-z0-9_]", "_", bridge)


def set_name(app: str) -> str:
    return "app_" + re.sub(r"[^A-Za-z0-9_]", "_", app)


@dataclass(frozen=True)
class PolicyTable:
    """What the table allows: `allows` between apps, `members` each app's addresses, and
    `bound` the (instance address, port) pairs of services bound to the instance's app."""

    members: Mapping[str, Iterable[str]] = field(default_factory=dict)
    allows: Iterable[Allow] = ()
    bound: Iterable[tuple[str, int]] = ()
    spaces: Mapping[str, Iterable[str]] = field(default_factory=dict)
    """Space → its running instances' addresses, whose outbound connections `egress` rules."""
    egress: Mapping[str, Sequence[EgressRule]] = field(default_factory=dict)
    """Space → the rules of the security groups bound to it (and to every space)."""


def render(
    bridge: str, wanted: PolicyTable, *, service_ports: tuple[int, int] | None = None
) -> str:
    """The whole table: a set per app that a policy names, a rule per policy, then the drop;
    with `service_ports`, the host's services on those ports only for instances bound."""
    members = wanted.members
    rules = sorted(set(wanted.allows))
    apps = sorted({allow.source for allow in rules} | {allow.destination for allow in rules})
    between = f'iifname "{bridge}" oifname "{bridge}"'
    lines = [f"table inet {table_name(bridge)} {{"]
    for app in apps:
        addresses = sorted(set(members.get(app, ())))
        lines += [f"\tset {set_name(app)} {{", "\t\ttype ipv4_addr"]
        if addresses:
            lines.append(f"\t\telements = {{ {', '.join(addresses)} }}")
        lines.append("\t}")
    lines += [
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter - 10; policy accept;",
        f"\t\t{between} ct state established,related accept",
    ]
    for allow in rules:
        ports = str(allow.start) if allow.start == allow.end else f"{allow.start}-{allow.end}"
        lines.append(
            f"\t\t{between} ip saddr @{set_name(allow.source)}"
            f" ip daddr @{set_name(allow.destination)} {allow.protocol} dport {ports} accept"
        )
    lines.append(f"\t\t{between} drop")
    lines += _egress(bridge, wanted)
    if service_ports is not None:
        lines += _services(bridge, service_ports, wanted.bound)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _egress(bridge: str, wanted: PolicyTable) -> list[str]:
    """The end of the forward chain (instances' connections leaving the bridge) and the chains
    of each space's security groups."""
    spaces = {space: sorted(set(addresses)) for space, addresses in wanted.spaces.items()}
    if not spaces:
        return ["\t}"]
    out = f'iifname "{bridge}" oifname != "{bridge}"'
    lines = [f"\t\t{out} ct state established,related accept"]
    chains: list[str] = []
    for space in sorted(spaces):
        name = set_name(space).replace("app_", "space_", 1)
        lines.append(f"\t\t{out} ip saddr @{name} jump egress_{name}")
        chains += [f"\tset {name} {{", "\t\ttype ipv4_addr"]
        if spaces[space]:
            chains.append(f"\t\telements = {{ {', '.join(spaces[space])} }}")
        chains += ["\t}", f"\tchain egress_{name} {{"]
        chains += [f"\t\t{rule} accept" for rule in egress_matches(wanted.egress.get(space, ()))]
        chains += ["\t\tdrop", "\t}"]
    return [*lines, "\t}", *chains]


def egress_matches(rules: Iterable[EgressRule]) -> list[str]:
    """Each security group rule as an nftables match (without its verdict), deduplicated."""
    matches: list[str] = []
    for rule in rules:
        targets = rule.destinations
        daddr = targets[0] if len(targets) == 1 else f"{{ {', '.join(targets)} }}"
        match = f"ip daddr {daddr}"
        if rule.protocol in ("tcp", "udp"):
            ports = [str(a) if a == b else f"{a}-{b}" for a, b in rule.ports]
            dport = ports[0] if len(ports) == 1 else f"{{ {', '.join(ports)} }}"
            match += f" {rule.protocol} dport {dport}"
        elif rule.protocol == "icmp":
            match += " meta l4proto icmp"
            if rule.icmp_type != -1:
                match += f" icmp type {rule.icmp_type}"
            if rule.icmp_code != -1:
                match += f" icmp code {rule.icmp_code}"
        if match not in matches:
            matches.append(match)
    return matches


def _services(bridge: str, ports: tuple[int, int], bound: Iterable[tuple[str, int]]) -> list[str]:
    """New connections from instances to the services' ports: only those bound. Only new ones:
    replies to the host's own connections into instances (the router's) come back to its
    ephemeral ports, which the services' range may overlap."""
    low, high = ports
    within = f'iifname "{bridge}" ct state new tcp dport {low}-{high}'
    pairs = sorted({(address, port) for address, port in bound if low <= port <= high})
    lines = ["\tset bound {", "\t\ttype ipv4_addr . inet_service"]
    if pairs:
        lines.append(f"\t\telements = {{ {', '.join(f'{a} . {p}' for a, p in pairs)} }}")
    return [
        *lines,
        "\t}",
        "\tchain input {",
        "\t\ttype filter hook input priority filter - 10; policy accept;",
        f"\t\t{within} ip saddr . tcp dport @bound accept",
        f"\t\t{within} drop",
        "\t}",
    ]


def replacing(bridge: str, table: str) -> str:
    """A script that swaps in `table` in one transaction (creating it first if missing, so
    the delete always has something to delete)."""
    name = f"inet {table_name(bridge)}"
    return f"table {name}\ndelete table {name}\n{table}"


def nft_missing() -> str | None:
    """Why policies cannot be enforced here, or None."""
    if shutil.which("nft") is None:
        return "network policies need nftables' nft (apt-get install nftables)"
    if not BRIDGE_NF.exists():
        return "network policies need br_netfilter (modprobe br_netfilter)"
    return None


def run_nft(args: list[str], *, script: str | None = None, check: bool = True) -> str:
    argv = ["nft", *args]
    try:
        done = subprocess.run(
            argv, input=script, capture_output=True, text=True, timeout=NFT_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetworkError(f"{' '.join(argv)}: {exc}") from exc
    if check and done.returncode != 0:
        raise NetworkError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout if done.returncode == 0 else ""


class NetworkPolicies:
    """Yun's nftables table for one bridge. `apply` is idempotent: the same wanted table is
    written once (a restarted server writes it again on its first pass)."""

    def __init__(self, bridge: str, *, service_ports: tuple[int, int] | None = None) -> None:
        self.bridge = bridge
        self.service_ports = service_ports
        self._applied: str | None = None

    def ensure(self) -> None:
        """Before any instance is attached: bridged traffic passes netfilter, and a table that
        drops app-to-app traffic exists (one already there, with its policies, is kept)."""
        if BRIDGE_NF.read_text().strip() != "1":
            BRIDGE_NF.write_text("1\n")
        if not self.exists():
            self._write(self.render(PolicyTable()))

    def exists(self) -> bool:
        done = subprocess.run(
            ["nft", "list", "table", "inet", table_name(self.bridge)],
            capture_output=True,
            timeout=NFT_TIMEOUT,
            check=False,
        )
        return done.returncode == 0

    def render(self, wanted: PolicyTable) -> str:
        return render(self.bridge, wanted, service_ports=self.service_ports)

    def apply(self, wanted: PolicyTable) -> bool:
        """Make the table allow what `wanted` says. Returns whether the table was written."""
        table = self.render(wanted)
        if table == self._applied:
            return False
        self._write(table)
        return True

    def remove(self) -> None:
        if self.exists():
            run_nft(["delete", "table", "inet", table_name(self.bridge)])
        self._applied = None

    def _write(self, table: str) -> None:
        run_nft(["-f", "-"], script=replacing(self.bridge, table))
        self._applied = table
        log.debug("network policies on %s written", self.bridge)
