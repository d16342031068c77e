from __future__ import annotations

from yun.agent.network.firewalling import (
    HostFirewall,
    forward_rules,
    input_chain,
    input_rules,
    masquerade_comment,
    parse_rules,
    rule_comment,
    rule_target,
)

NAT_LISTING = r"""-P POSTROUTING ACCEPT
-N CNI-aaa
-A POSTROUTING -s 10.244.0.2/32 -m comment --comment "name: \"yun-yun0\" id: \"c1\"" -j CNI-aaa
-A POSTROUTING -s 10.244.0.3/32 -m comment --comment "name: \"yun-yun0\" id: \"c2\"" -j CNI-bbb
-A POSTROUTING -s 10.251.7.2/32 -m comment --comment "name: \"yun-yuntest7\" id: \"c1\"" -j CNI-ccc
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A CNI-aaa ! -d 224.0.0.0/4 -m comment --comment "name: \"yun-yun0\" id: \"c1\"" -j MASQUERADE
"""


class ListingIptables:
    def __init__(self, listing: str) -> None:
        self.text = listing
        self.ran: list[list[str]] = []

    def listing(self, chain: str, *, table: str = "filter") -> str | None:
        return self.text

    def run(self, args: list[str], *, check: bool = True) -> None:
        self.ran.append(list(args))


def test_parse_rules_keeps_quoted_comments_whole() -> None:
    rules = parse_rules(NAT_LISTING, chain="CNI-aaa")
    assert rules == [
        ["!", "-d", "224.0.0.0/4", "-m", "comment", "--comment", 'name: "yun-yun0" id: "c1"',
         "-j", "MASQUERADE"],
    ]  # fmt: skip
    assert rule_comment(rules[0]) == masquerade_comment("yun-yun0", "c1")
    assert rule_target(rules[0]) == "MASQUERADE"
    assert rule_comment(["-j", "DROP"]) is None


def test_masquerade_rules_of_one_container_or_one_network() -> None:
    firewall = HostFirewall(bridge="yun0", network="yun-yun0")
    firewall.iptables = ListingIptables(NAT_LISTING)  # type: ignore[assignment]
    (one,) = firewall.masquerade_rules("c1")
    assert one[:2] == ["-s", "10.244.0.2/32"]
    assert [r[1] for r in firewall.masquerade_rules()] == ["10.244.0.2/32", "10.244.0.3/32"]
    assert firewall.masquerade_rules("c3") == []


def test_removing_masquerade_deletes_the_jump_and_the_plugin_chain() -> None:
    firewall = HostFirewall(bridge="yun0", network="yun-yun0")
    fake = ListingIptables(NAT_LISTING)
    firewall.iptables = fake  # type: ignore[assignment]
    assert firewall.remove_masquerade("c1") == 1
    assert fake.ran[0][:3] == ["-t", "nat", "-D"]
    assert fake.ran[0][3:] == ["POSTROUTING", *firewall.masquerade_rules("c1")[0]]
    assert fake.ran[1:] == [["-t", "nat", "-F", "CNI-aaa"], ["-t", "nat", "-X", "CNI-aaa"]]


def test_input_from_the_bridge_only_lets_replies_through() -> None:
    assert input_chain("yun0") == "YUN-IN-yun0"
    accept, drop = input_rules("yun0")
    assert accept[:2] == ["-i", "yun0"] and "ESTABLISHED" in accept[5] and accept[-1] == "ACCEPT"
    assert drop == ["-i", "yun0", "-j", "DROP"]


def test_app_to_app_is_dropped_unless_allowed() -> None:
    blocked, allowed = (
        forward_rules("yun0", allow_app_to_app=False),
        forward_rules("yun0", allow_app_to_app=True),
    )
    assert blocked[0] == ["-i", "yun0", "-o", "yun0", "-j", "DROP"]
    assert allowed[0] == ["-i", "yun0", "-o", "yun0", "-j", "ACCEPT"]
    assert blocked[1:] == allowed[1:]
    assert blocked[-1] == ["-o", "yun0", "-j", "DROP"]  # nothing else routed into instances


def test_chains_are_named_per_bridge_so_test_bridges_never_touch_yun0() -> None:
    chains = HostFirewall(bridge="yuntest7", network="yun-yuntest7").chains()
    assert {name: parent for name, (parent, _) in chains.items()} == {
        "YUN-IN-yuntest7": "INPUT",
        "YUN-FWD-yuntest7": "FORWARD",
    }


class ChainsIptables:
    """Just enough of iptables' filter table to see what `ensure` and `remove` change."""

    def __init__(self) -> None:
        self.chains: dict[str, list[list[str]]] = {"INPUT": [], "FORWARD": []}
        self.changes: list[list[str]] = []

    def listing(self, chain: str, *, table: str = "filter") -> str | None:
        if chain not in self.chains:
            return None
        lines = [f"-N {chain}"] + [" ".join(["-A", chain, *r]) for r in self.chains[chain]]
        return "\n".join(lines) + "\n"

    def succeeds(self, args: list[str]) -> bool:
        assert args[0] == "-C"
        return args[2:] in self.chains[args[1]]

    def run(self, args: list[str], *, check: bool = True) -> None:
        self.changes.append(list(args))
        op, chain, rest = args[0], args[1], args[2:]
        if op == "-N" or op == "-F":
            self.chains[chain] = []
        elif op == "-X":
            del self.chains[chain]
        elif op == "-A":
            self.chains[chain].append(rest)
        elif op == "-I":
            self.chains[chain].insert(int(rest[0]) - 1, rest[1:])
        elif op == "-D":
            self.chains[chain].remove(rest)


def test_ensure_inserts_chains_and_jumps_once_and_remove_takes_them_away() -> None:
    firewall = HostFirewall(bridge="yun0", network="yun-yun0")
    fake = ChainsIptables()
    fake.chains["INPUT"] = [["-i", "eth0", "-j", "ACCEPT"]]
    firewall.iptables = fake  # type: ignore[assignment]
    firewall.ensure()
    assert fake.chains["INPUT"][0] == ["-j", "YUN-IN-yun0"]
    assert fake.chains["FORWARD"] == [["-j", "YUN-FWD-yun0"]]
    assert fake.chains["YUN-IN-yun0"] == input_rules("yun0")
    fake.changes.clear()
    firewall.ensure()
    assert fake.changes == []  # already right: nothing touched, no window without rules

    fake.chains["YUN-FWD-yun0"].pop()  # someone deleted a rule
    firewall.ensure()
    assert fake.chains["YUN-FWD-yun0"] == forward_rules("yun0", allow_app_to_app=False)

    firewall.remove()
    assert fake.chains == {"INPUT": [["-i", "eth0", "-j", "ACCEPT"]], "FORWARD": []}
    firewall.remove()


def test_instances_may_ask_the_platforms_dns_on_the_bridge_and_nothing_else_new() -> None:
    rules = input_rules("yun0", dns=True)
    assert ["-i", "yun0", "-p", "udp", "-m", "udp", "--dport", "53", "-j", "ACCEPT"] in rules
    assert ["-i", "yun0", "-p", "tcp", "-m", "tcp", "--dport", "53", "-j", "ACCEPT"] in rules
    assert rules[-1] == ["-i", "yun0", "-j", "DROP"]
    assert not any("53" in rule for rule in input_rules("yun0"))
