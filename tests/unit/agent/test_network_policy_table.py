"""The nftables table network policies become: a set per app a policy names, a rule per policy,
the drop last, and one transaction that swaps the whole table (never another's)."""

from __future__ import annotations

import pytest

from yun.agent.network.policies import (
    Allow,
    PolicyTable,
    render,
    replacing,
    set_name,
    table_name,
)


def test_each_policy_is_one_rule_between_two_sets_and_the_rest_is_dropped() -> None:
    members = {"front-1": ["10.244.0.3", "10.244.0.2"], "back": ["10.244.0.9"]}
    allows = [
        Allow("front-1", "back", "tcp", 8080, 8080),
        Allow("front-1", "back", "udp", 9000, 9010),
    ]
    table = render("yun0", PolicyTable({**members, "idle": ["10.244.0.7"]}, allows))
    lines = [line.strip() for line in table.splitlines()]
    assert lines[0] == "table inet yun_yun0 {"
    assert "elements = { 10.244.0.2, 10.244.0.3 }" in lines  # sorted, so a pass writes it once
    assert "set app_idle {" not in lines  # only apps that a policy names
    between = 'iifname "yun0" oifname "yun0"'
    rules = [line for line in lines if line.startswith(between)]
    assert rules == [
        f"{between} ct state established,related accept",
        f"{between} ip saddr @app_front_1 ip daddr @app_back tcp dport 8080 accept",
        f"{between} ip saddr @app_front_1 ip daddr @app_back udp dport 9000-9010 accept",
        f"{between} drop",
    ]


def test_an_app_without_instances_is_an_empty_set_and_no_policy_drops_all() -> None:
    table = render("yun0", PolicyTable({}, [Allow("a", "b", "tcp", 80, 80)]))
    assert "elements" not in table and "set app_a {" in table
    nothing = render("yun0", PolicyTable())
    assert "set " not in nothing and nothing.count("accept") == 2  # policy accept; ct state
    assert nothing.splitlines()[-3].strip() == 'iifname "yun0" oifname "yun0" drop'


def test_the_swap_creates_deletes_and_writes_only_yuns_table() -> None:
    script = replacing("test-br.0", render("test-br.0", PolicyTable()))
    assert script.splitlines()[:3] == [
        "table inet yun_test_br_0",
        "delete table inet yun_test_br_0",
        "table inet yun_test_br_0 {",
    ]
    assert "flush" not in script
    assert table_name("yun0") == "yun_yun0" and set_name("a-b") == "app_a_b"


@pytest.mark.parametrize(
    ("protocol", "start", "end"), [("icmp", 1, 1), ("tcp", 0, 1), ("tcp", 9, 8), ("udp", 1, 70000)]
)
def test_a_wrong_allow_is_refused(protocol: str, start: int, end: int) -> None:
    with pytest.raises(ValueError):
        Allow("a", "b", protocol, start, end)


def test_the_services_ports_open_only_to_instances_bound() -> None:
    bound = [("10.244.0.3", 41001), ("10.244.0.2", 41005), ("10.244.0.2", 5432)]
    table = render("yun0", PolicyTable(bound=bound), service_ports=(41000, 41999))
    lines = [line.strip() for line in table.splitlines()]
    assert "elements = { 10.244.0.2 . 41005, 10.244.0.3 . 41001 }" in lines  # not 5432
    within = 'iifname "yun0" ct state new tcp dport 41000-41999'
    assert [line for line in lines if line.startswith(within)] == [
        f"{within} ip saddr . tcp dport @bound accept",
        f"{within} drop",
    ]
    assert "chain input" not in render("yun0", PolicyTable(bound=bound))  # no services here
