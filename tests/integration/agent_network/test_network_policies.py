"""Network policies enforced by nftables on a real bridge: namespaces standing in for two apps'
instances cannot connect until a policy allows it, only on its protocol and ports, only in
its direction, and no longer once it is removed; the sets follow instances that come later;
the host's services are reached only by instances bound to them; beyond the bridge, instances
reach what their space's security groups allow; the swap touches no table but Yun's, and
teardown removes Yun's."""

from __future__ import annotations

import functools
import shutil
import socket
import subprocess
from collections.abc import Callable

import pytest
from tests.helpers import free_port
from tests.integration.agent_network.network_world import HostServer, NetWorld, Sandbox

from yun.agent.network.policies import Allow, PolicyTable, table_name
from yun.egress import PUBLIC_NETWORKS, parse_rules

pytestmark = pytest.mark.skipif(shutil.which("nft") is None, reason="needs nftables' nft")


def nft(*args: str, script: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nft", *args], input=script, capture_output=True, text=True)


def test_only_what_a_policy_allows_passes_between_apps(
    make_net: Callable[..., NetWorld],
) -> None:
    net = make_net(network_policies=True)
    assert net.network.policies is not None
    front, back = net.sandbox(), net.sandbox()
    assert front.lease is not None and back.lease is not None
    for port in (8080, 9090):
        back.serve(port)
    to_back = back.lease.address
    assert front.probe(to_back, 8080).startswith("failed")  # denied by default

    members = {"front": [front.lease.address], "back": [to_back]}
    allow = Allow("front", "back", "tcp", 8080, 8080)
    net.network.apply_policies(PolicyTable(members, [allow]))
    assert front.probe(to_back, 8080) == f"connected {back.name}"
    assert front.probe(to_back, 9090).startswith("failed")  # not its port
    front.serve(8080)
    assert back.probe(front.lease.address, 8080).startswith("failed")  # not its direction

    # A second front instance, attached later, joins once the next pass names it.
    later = net.sandbox()
    assert later.lease is not None
    assert later.probe(to_back, 8080).startswith("failed")
    members["front"].append(later.lease.address)
    net.network.apply_policies(PolicyTable(members, [allow]))
    assert later.probe(to_back, 8080) == f"connected {back.name}"

    net.network.apply_policies(PolicyTable(members, []))
    assert front.probe(to_back, 8080).startswith("failed")


def test_the_table_is_swapped_whole_and_others_are_left_alone(
    make_net: Callable[..., NetWorld],
) -> None:
    net = make_net(network_policies=True)
    net.sandbox()
    table = table_name(net.network.bridge)
    assert nft("list", "table", "inet", table).returncode == 0  # made before the first attach
    theirs = f"table inet yuntest_theirs_{net.network.bridge}"
    assert nft("-f", "-", script=f"{theirs} {{\n chain c {{\n counter\n }}\n}}\n").returncode == 0
    try:
        policies = net.network.policies
        assert policies is not None
        wanted = PolicyTable({"a": ["10.9.9.9"]}, [Allow("a", "a", "udp", 53, 53)])
        assert policies.apply(wanted)
        assert not policies.apply(wanted)  # the same table is written once
        listed = nft("list", "table", "inet", table).stdout
        assert "10.9.9.9" in listed and "udp dport 53 accept" in listed
        assert nft("list", *theirs.split()).returncode == 0
        net.close()
        assert nft("list", "table", "inet", table).returncode != 0
        assert nft("list", *theirs.split()).returncode == 0
    finally:
        nft("delete", *theirs.split())


def test_instances_reach_only_the_services_bound_to_them(
    make_net: Callable[..., NetWorld],
) -> None:
    first = free_port()
    net = make_net(network_policies=True, service_ports=(first, first + 2))
    gateway = net.network.host_address()
    mine, theirs = HostServer(gateway, first), HostServer(gateway, first + 1)
    try:
        bound, unbound = net.sandbox(), net.sandbox()
        assert bound.lease is not None and unbound.lease is not None
        net.network.apply_policies(PolicyTable(bound=[(bound.lease.address, first)]))
        assert bound.probe(gateway, first) == "connected host"
        assert bound.probe(gateway, first + 1).startswith("failed")  # not bound to that one
        assert unbound.probe(gateway, first).startswith("failed")
        # The host's own connections into instances (the router's) come back to its ephemeral
        # ports, which the services' range may overlap: those replies pass.
        unbound.serve(8080)
        with socket.socket() as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            client.bind(("0.0.0.0", first + 2))
            client.settimeout(5)
            client.connect((unbound.lease.address, 8080))
            assert client.recv(100).decode() == unbound.name
        net.network.apply_policies(PolicyTable())  # unbound
        assert bound.probe(gateway, first).startswith("failed")
    finally:
        mine.close()
        theirs.close()


def _outside(net: NetWorld, host_cidr: str, peer_cidr: str) -> Sandbox:
    """A namespace beyond the bridge, routed through the host by a veth pair of its own."""
    box = net.sandbox(attach=False)
    host_end = f"yo{box.name[-8:]}"
    run = functools.partial(subprocess.run, check=True, capture_output=True)
    run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", box.name])
    run(["ip", "addr", "add", host_cidr, "dev", host_end])
    run(["ip", "link", "set", host_end, "up"])
    for args in (
        ["addr", "add", peer_cidr, "dev", "eth0"],
        ["link", "set", "eth0", "up"],
        ["link", "set", "lo", "up"],
        ["route", "add", "default", "via", host_cidr.split("/")[0]],
    ):
        run(["ip", "-n", box.name, *args])
    return box


def test_instances_reach_beyond_the_bridge_what_their_security_groups_allow(
    make_net: Callable[..., NetWorld],
) -> None:
    net = make_net(network_policies=True)
    n = int(net.subnet.split(".")[2])
    public = _outside(net, f"198.18.{n}.1/30", f"198.18.{n}.2/30")  # outside the private ranges
    private = _outside(net, f"10.250.{n}.1/30", f"10.250.{n}.2/30")
    for box in (public, private):
        box.serve(8080)
    instance, staging = net.sandbox(), net.sandbox()
    assert instance.lease is not None
    to_public, to_private = f"198.18.{n}.2", f"10.250.{n}.2"
    assert instance.probe(to_private, 8080) == f"connected {private.name}"  # nothing applied yet

    spaces = {"prod": [instance.lease.address]}
    defaults = parse_rules(PUBLIC_NETWORKS)
    net.network.apply_policies(PolicyTable(spaces=spaces, egress={"prod": defaults}))
    assert instance.probe(to_public, 8080) == f"connected {public.name}"
    assert instance.probe(to_private, 8080).startswith("failed")
    assert staging.probe(to_private, 8080) == f"connected {private.name}"  # in no space

    db = parse_rules([{"protocol": "tcp", "destination": f"10.250.{n}.0/30", "ports": "8080"}])
    net.network.apply_policies(PolicyTable(spaces=spaces, egress={"prod": [*defaults, *db]}))
    assert instance.probe(to_private, 8080) == f"connected {private.name}"
    net.network.apply_policies(PolicyTable(spaces=spaces, egress={"prod": []}))
    assert instance.probe(to_public, 8080).startswith("failed")  # no group: nothing outside
