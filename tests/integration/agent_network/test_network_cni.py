"""CniNetwork against the real CNI plugins, iptables and network namespaces.

What a user of the platform would notice: instances get distinct addresses the router can reach;
instances can neither open connections to the host's services nor to each other; stopping an
instance frees its address, also after a crash or an agent restart; nothing is left behind.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Callable

import pytest
from tests.helpers import free_port
from tests.integration.agent_network.network_world import (
    HostServer,
    NetWorld,
    greeting,
    iptables,
)

from yun.agent.network import CniNetwork, delete_netns
from yun.agent.network.firewalling import forward_chain, input_chain, rule_target
from yun.agent.network.state import host_local_allocations

pytestmark = pytest.mark.integration


def status(argv: list[str]) -> int:
    return subprocess.run(argv, capture_output=True, check=False).returncode


def allocated(network: CniNetwork) -> set[str]:
    return set(host_local_allocations(network.ipam_dir / network.network))


def test_instances_get_distinct_addresses_the_host_can_reach(net: NetWorld) -> None:
    a, b = net.sandbox(), net.sandbox()
    assert a.lease is not None and b.lease is not None
    subnet = ipaddress.ip_network(net.subnet)
    assert a.lease.address != b.lease.address
    for lease in (a.lease, b.lease):
        assert ipaddress.ip_address(lease.address) in subnet
        assert lease.gateway == str(next(subnet.hosts()))
        assert (lease.prefix, lease.interface) == (24, "eth0")
    a.serve(8080)
    b.serve(8080)
    assert greeting(a.lease.address, 8080) == a.name
    assert greeting(b.lease.address, 8080) == b.name
    assert net.network.attach(a.container_id, a.path) == a.lease  # attaching twice: same lease
    net.network.check(a.container_id)
    assert allocated(net.network) == {a.lease.address, b.lease.address}


def test_instances_cannot_connect_to_host_services(net: NetWorld) -> None:
    a = net.sandbox()
    assert a.lease is not None
    gateway = a.lease.gateway
    loopback_only, everywhere = HostServer("127.0.0.1"), HostServer("0.0.0.0")
    try:
        # 127.0.0.1 is the namespace's own loopback (up, so refused at once), not the host's.
        assert a.probe("127.0.0.1", loopback_only.port).startswith("failed ConnectionRefused")
        assert a.probe(gateway, loopback_only.port).startswith("failed")
        assert greeting(gateway, everywhere.port) == "host"  # the host itself is served there
        assert a.probe(gateway, everywhere.port).startswith("failed")

        # It is Yun's INPUT chain that stops it: without the jump the server answers.
        chain = input_chain(net.network.bridge)
        assert iptables("-D", "INPUT", "-j", chain).returncode == 0
        try:
            assert a.probe(gateway, everywhere.port) == "connected host"
        finally:
            net.network.firewall.ensure()
        assert a.probe(gateway, everywhere.port).startswith("failed")
        # No IPv6 on the bridge, so no link-local way around the IPv4 rules to [::] servers.
        ipv6 = subprocess.run(
            ["ip", "-6", "addr", "show", "dev", net.network.bridge], capture_output=True, text=True
        )
        assert ipv6.returncode == 0 and "inet6" not in ipv6.stdout
    finally:
        loopback_only.close()
        everywhere.close()


def test_instances_reach_host_services_on_the_service_ports_only(
    make_net: Callable[..., NetWorld],
) -> None:
    port = free_port()
    net = make_net(service_ports=(port, port))
    gateway = net.network.host_address()  # before any instance: the servers bind to it first
    service, other = HostServer(gateway, port), HostServer(gateway)
    try:
        a = net.sandbox()
        assert a.lease is not None and a.lease.gateway == gateway
        assert a.probe(gateway, port) == "connected host"
        assert a.probe(gateway, other.port).startswith("failed")
    finally:
        service.close()
        other.close()


def test_instances_cannot_connect_to_each_other(net: NetWorld) -> None:
    a, b = net.sandbox(), net.sandbox()
    assert a.lease is not None and b.lease is not None
    b.serve(8080)
    assert greeting(b.lease.address, 8080) == b.name
    assert a.probe(b.lease.address, 8080).startswith("failed")  # on the bridge (isolated port)
    route = ["ip", "netns", "exec", a.name, "ip", "route", "add", f"{b.lease.address}/32"]
    assert status([*route, "via", a.lease.gateway]) == 0
    assert a.probe(b.lease.address, 8080).startswith("failed")  # routed by the host (FORWARD)


def test_instances_connect_to_each_other_when_allowed(make_net: Callable[..., NetWorld]) -> None:
    net = make_net(allow_app_to_app=True)
    a, b = net.sandbox(), net.sandbox()
    assert b.lease is not None
    b.serve(8080)
    assert a.probe(b.lease.address, 8080) == f"connected {b.name}"


def test_detach_releases_the_address(net: NetWorld) -> None:
    a, b = net.sandbox(), net.sandbox()
    assert a.lease is not None and b.lease is not None
    net.network.detach(b.container_id, b.path)
    assert allocated(net.network) == {a.lease.address}
    assert b.container_id not in net.network.attachments()
    assert net.network.firewall.masquerade_rules(b.container_id) == []
    net.network.detach(b.container_id, b.path)  # again: nothing left to do, no error

    c = net.sandbox()
    assert c.lease is not None
    assert c.lease.address != a.lease.address
    assert ipaddress.ip_address(c.lease.address) in ipaddress.ip_network(net.subnet)
    assert allocated(net.network) == {a.lease.address, c.lease.address}


def test_detach_after_the_namespace_vanished_still_releases(net: NetWorld) -> None:
    a = net.sandbox()
    assert a.lease is not None
    assert net.network.firewall.masquerade_rules(a.container_id) != []
    delete_netns(a.name)
    net.network.detach(a.container_id, a.path)
    assert allocated(net.network) == set()
    assert net.network.firewall.masquerade_rules(a.container_id) == []
    assert net.network.attachments() == {}


def test_release_stale_after_an_agent_restart(net: NetWorld) -> None:
    a, b, c, d = (net.sandbox() for _ in range(4))
    assert a.lease is not None
    delete_netns(c.name)  # c crashed and its namespace is gone too
    restarted = CniNetwork(
        subnet=net.subnet, bridge=net.network.bridge, state_dir=net.network.state_dir
    )
    state = json.loads(restarted.store.path.read_text())
    assert set(state["attachments"]) == {x.container_id for x in (a, b, c, d)}
    restarted.store.remove(d.container_id)  # as if the agent died before recording d

    released = restarted.release_stale({a.container_id})
    assert sorted(released) == sorted(x.container_id for x in (b, c, d))
    assert set(restarted.attachments()) == {a.container_id}
    assert allocated(restarted) == {a.lease.address}
    assert restarted.firewall.masquerade_rules() == restarted.firewall.masquerade_rules(
        a.container_id
    )
    assert restarted.release_stale({a.container_id}) == []

    a.serve(8080)
    assert greeting(a.lease.address, 8080) == a.name
    e = net.sandbox(attach=False)
    restarted.attach(e.container_id, e.path)
    jumps = iptables("-S", "INPUT").stdout.count(f"-j {input_chain(restarted.bridge)}")
    assert jumps == 1


def test_release_stale_leaves_kept_prefixes_to_their_owner(net: NetWorld) -> None:
    instance, staging = net.sandbox(attach=False), net.sandbox(attach=False)
    net.network.attach("yun-stg-0123456789ab", staging.path)  # a staging's, not an instance's
    net.network.attach(instance.container_id, instance.path)
    released = net.network.release_stale(set(), keep_prefixes=("yun-stg-",))
    assert released == [instance.container_id]
    assert set(net.network.attachments()) == {"yun-stg-0123456789ab"}
    net.network.detach("yun-stg-0123456789ab", staging.path)


def test_outbound_nat_rule_exists_for_the_subnet(net: NetWorld) -> None:
    a = net.sandbox()
    assert a.lease is not None
    (rule,) = net.network.firewall.masquerade_rules(a.container_id)
    assert rule[:2] == ["-s", f"{a.lease.address}/32"]
    target = rule_target(rule)
    assert target is not None
    listing = iptables("-t", "nat", "-S", target).stdout
    assert f"-d {net.subnet}" in listing and "-j ACCEPT" in listing
    assert "-j MASQUERADE" in listing


def test_teardown_leaves_nothing_behind(net: NetWorld) -> None:
    a, _b = net.sandbox(), net.sandbox()
    bridge = net.network.bridge
    net.network.teardown()
    assert status(["ip", "link", "show", "dev", bridge]) != 0
    assert status(["ip", "netns", "exec", a.name, "ip", "link", "show", "eth0"]) != 0
    for chain in (input_chain(bridge), forward_chain(bridge)):
        assert iptables("-S", chain).returncode != 0
    assert bridge not in iptables("-S", "INPUT").stdout + iptables("-S", "FORWARD").stdout
    assert net.network.network not in iptables("-t", "nat", "-S").stdout
    assert allocated(net.network) == set()
    assert net.network.attachments() == {}
    net.network.teardown()  # twice is fine
