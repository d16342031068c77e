"""The iptables rules that keep instances away from the host and from each other.

A process in another network namespace cannot reach the host's loopback services, but it can
reach any host service listening on 0.0.0.0 through the bridge's gateway address — Yun's API,
HAProxy's stats, a database. Cloud Foundry also blocks app-to-app traffic unless a network policy
allows it. So each Yun bridge gets two chains of its own (named after the bridge, so a test
bridge never touches a real one), jumped to from the top of INPUT and FORWARD:

  YUN-IN-<bridge>   replies to connections the host opened (the router) pass; everything else
                    arriving from the bridge — new connections to the host itself — is dropped.
  YUN-FWD-<bridge>  instance → instance dropped (unless allowed), instance → elsewhere accepted
                    (outbound, NAT-ed by the bridge plugin's ipMasq rule), replies back accepted,
                    anything else routed towards instances dropped.

The host (the router) connecting into instances goes through OUTPUT, which Yun leaves alone.
Rules match on the bridge interface, not on source addresses, so a spoofed source changes nothing.
`ensure` is idempotent: it rebuilds a chain only when its rules differ from the wanted ones and
inserts each jump once.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterable

from yun.agent.network.base import NetworkError

IPTABLES_TIMEOUT = 30.0


def input_chain(bridge: str) -> str:
    return f"YUN-IN-{bridge}"


def forward_chain(bridge: str) -> str:
    return f"YUN-FWD-{bridge}"


def input_rules(
    bridge: str,
    *,
    open_ports: tuple[int, int] | None = None,
    dns: bool = False,
    config_port: int | None = None,
) -> list[list[str]]:
    """INPUT from the bridge: only replies to the host's own connections, and new ones to
    `open_ports` (the built-in services' servers, as an application security group would),
    with `dns` to port 53 (the platform's DNS, which instances use as their resolver), and to
    `config_port` (live configuration's watch endpoint)."""
    rules = [
        ["-i", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
    ]
    if dns:
        for protocol in ("udp", "tcp"):
            rules.append(
                ["-i", bridge, "-p", protocol, "-m", protocol, "--dport", "53", "-j", "ACCEPT"]
            )
    if config_port is not None:
        port = str(config_port)
        rules.append(["-i", bridge, "-p", "tcp", "-m", "tcp", "--dport", port, "-j", "ACCEPT"])
    if open_ports is not None:
        low, high = open_ports
        ports = str(low) if low == high else f"{low}:{high}"
        rules.append(["-i", bridge, "-p", "tcp", "-m", "tcp", "--dport", ports, "-j", "ACCEPT"])
    return [*rules, ["-i", bridge, "-j", "DROP"]]


def forward_rules(bridge: str, *, allow_app_to_app: bool) -> list[list[str]]:
    """FORWARD through the bridge, in the order iptables prints them back."""
    return [
        ["-i", bridge, "-o", bridge, "-j", "ACCEPT" if allow_app_to_app else "DROP"],
        ["-i", bridge, "-j", "ACCEPT"],
        ["-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
        ["-o", bridge, "-j", "DROP"],
    ]


def parse_rules(listing: str, *, chain: str) -> list[list[str]]:
    """The `-A <chain>` rules of an `iptables -S` listing, as argument lists without `-A chain`."""
    rules = []
    for line in listing.splitlines():
        words = shlex.split(line)
        if len(words) >= 2 and words[0] == "-A" and words[1] == chain:
            rules.append(words[2:])
    return rules


def rule_comment(rule: list[str]) -> str | None:
    for i, word in enumerate(rule[:-1]):
        if word == "--comment":
            return rule[i + 1]
    return None


def rule_target(rule: list[str]) -> str | None:
    for i, word in enumerate(rule[:-1]):
        if word == "-j":
            return rule[i + 1]
    return None


def masquerade_comment(network: str, container_id: str) -> str:
    """The comment the bridge plugin puts on a container's ipMasq rules (plugins/pkg/utils)."""
    return f'name: "{network}" id: "{container_id}"'


class Iptables:
    """Runs `iptables -w` (waiting for the xtables lock other tools may hold)."""

    def __init__(self, executable: str = "iptables") -> None:
        self.executable = executable

    def run(self, args: Iterable[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [self.executable, "-w", *args]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=IPTABLES_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NetworkError(f"{shlex.join(argv)}: {exc}") from exc
        if check and done.returncode != 0:
            raise NetworkError(f"{shlex.join(argv)} failed: {done.stderr.strip()}")
        return done

    def succeeds(self, args: Iterable[str]) -> bool:
        return self.run(args, check=False).returncode == 0

    def listing(self, chain: str, *, table: str = "filter") -> str | None:
        done = self.run(["-t", table, "-S", chain], check=False)
        return done.stdout if done.returncode == 0 else None


class HostFirewall:
    """Yun's filter chains for one bridge, plus cleanup of the bridge plugin's NAT rules."""

    def __init__(
        self,
        *,
        bridge: str,
        network: str,
        allow_app_to_app: bool = False,
        open_ports: tuple[int, int] | None = None,
        dns: bool = False,
        config_port: int | None = None,
    ) -> None:
        self.bridge = bridge
        self.network = network
        self.allow_app_to_app = allow_app_to_app
        self.open_ports = open_ports
        self.dns = dns
        self.config_port = config_port
        self.iptables = Iptables()

    def chains(self) -> dict[str, tuple[str, list[list[str]]]]:
        """Chain name → (built-in chain that jumps to it, its rules)."""
        return {
            input_chain(self.bridge): (
                "INPUT",
                input_rules(
                    self.bridge,
                    open_ports=self.open_ports,
                    dns=self.dns,
                    config_port=self.config_port,
                ),
            ),
            forward_chain(self.bridge): (
                "FORWARD",
                forward_rules(self.bridge, allow_app_to_app=self.allow_app_to_app),
            ),
        }

    def ensure(self) -> None:
        for chain, (parent, rules) in self.chains().items():
            listing = self.iptables.listing(chain)
            if listing is None:
                self.iptables.run(["-N", chain])
                listing = ""
            if parse_rules(listing, chain=chain) != rules:
                self.iptables.run(["-F", chain])
                for rule in rules:
                    self.iptables.run(["-A", chain, *rule])
            if not self.iptables.succeeds(["-C", parent, "-j", chain]):
                self.iptables.run(["-I", parent, "1", "-j", chain])

    def remove(self) -> None:
        """Remove the jumps and chains; what is already gone is skipped."""
        for chain, (parent, _rules) in self.chains().items():
            while self.iptables.succeeds(["-C", parent, "-j", chain]):
                self.iptables.run(["-D", parent, "-j", chain])
            if self.iptables.listing(chain) is not None:
                self.iptables.run(["-F", chain])
                self.iptables.run(["-X", chain])

    def masquerade_rules(self, container_id: str | None = None) -> list[list[str]]:
        """The bridge plugin's POSTROUTING jumps for one container, or for all of this network."""
        listing = self.iptables.listing("POSTROUTING", table="nat") or ""
        network_prefix = f'name: "{self.network}" id: '
        wanted = masquerade_comment(self.network, container_id or "")
        rules = []
        for rule in parse_rules(listing, chain="POSTROUTING"):
            comment = rule_comment(rule) or ""
            if comment == wanted or (container_id is None and comment.startswith(network_prefix)):
                rules.append(rule)
        return rules

    def remove_masquerade(self, container_id: str | None = None) -> int:
        """Delete leftover ipMasq rules and chains. The bridge plugin's DEL only removes them when
        the namespace still exists, so a container whose namespace vanished first leaks them."""
        rules = self.masquerade_rules(container_id)
        for rule in rules:
            self.iptables.run(["-t", "nat", "-D", "POSTROUTING", *rule], check=False)
            target = rule_target(rule)
            if target and target.startswith("CNI-"):
                self.iptables.run(["-t", "nat", "-F", target], check=False)
                self.iptables.run(["-t", "nat", "-X", target], check=False)
        return len(rules)
