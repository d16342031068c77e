"""The internal DNS server on a loopback port: internal names over UDP and TCP, other names
forwarded to the host's resolvers (here another server standing in for one)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest
from tests.helpers import wait_until

from yun.discovery import DnsServer, Target, host_resolvers
from yun.discovery import server as server_module


@pytest.fixture
def upstream() -> Iterator[DnsServer]:
    """A resolver of the host's, knowing `example.test`."""
    server = DnsServer(bind="127.0.0.1", port=0)
    server.update(["example.test"], {"www.example.test": [Target("192.0.2.10", 80, 0)]})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def internal(upstream: DnsServer) -> Iterator[DnsServer]:
    server = DnsServer(bind="127.0.0.1", port=0, upstream=[("127.0.0.1", upstream.port)])
    server.start()
    yield server
    server.stop()


def ask(server: DnsServer, name: str, kind: str = "A", *, tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, kind)
    if tcp:
        return dns.query.tcp(query, server.bind, port=server.port, timeout=5)
    return dns.query.udp(query, server.bind, port=server.port, timeout=5)


def addresses(response: dns.message.Message) -> list[str]:
    return [item.to_text() for rrset in response.answer for item in rrset]


def test_internal_names_follow_the_table_over_udp_and_tcp(internal: DnsServer) -> None:
    internal.update(["apps.internal"], {"api.apps.internal": [Target("10.244.0.5", 8080, 0)]})
    assert addresses(ask(internal, "api.apps.internal")) == ["10.244.0.5"]
    internal.update(
        ["apps.internal"],
        {"api.apps.internal": [Target("10.244.0.5", 8080, 0), Target("10.244.0.6", 8080, 1)]},
    )
    assert sorted(addresses(ask(internal, "api.apps.internal", tcp=True))) == [
        "10.244.0.5",
        "10.244.0.6",
    ]
    assert ask(internal, "gone.apps.internal").rcode() == dns.rcode.NXDOMAIN


def test_other_names_are_forwarded_to_the_host_resolver(
    internal: DnsServer, upstream: DnsServer
) -> None:
    internal.update(["apps.internal"], {})
    forwarded = ask(internal, "www.example.test")
    assert addresses(forwarded) == ["192.0.2.10"]
    upstream.stop()
    assert ask(internal, "www.example.test").rcode() == dns.rcode.SERVFAIL


def test_a_long_answer_is_cut_over_udp_and_whole_over_tcp(internal: DnsServer) -> None:
    many = [Target(f"10.244.1.{n}", 8080, n) for n in range(1, 61)]
    internal.update(["apps.internal"], {"big.apps.internal": many})
    query = dns.message.make_query("big.apps.internal", "A")  # no EDNS: 512 bytes at most
    cut = dns.query.udp(query, "127.0.0.1", port=internal.port, timeout=5)
    assert cut.flags & dns.flags.TC and cut.answer == []
    assert len(addresses(ask(internal, "big.apps.internal", tcp=True))) == 60


def test_what_is_not_dns_gets_no_answer_and_the_server_goes_on(internal: DnsServer) -> None:
    internal.update(["apps.internal"], {"api.apps.internal": [Target("10.244.0.5", 8080, 0)]})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(0.3)
        probe.sendto(b"hello", ("127.0.0.1", internal.port))
        with pytest.raises(TimeoutError):
            probe.recv(512)
    assert addresses(ask(internal, "api.apps.internal")) == ["10.244.0.5"]


def test_the_hosts_resolvers_come_from_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nsearch example.test\nnameserver 10.0.0.2\nnameserver ::1\n")
    assert host_resolvers(conf) == [("10.0.0.2", 53), ("::1", 53)]
    assert host_resolvers(tmp_path / "missing") == []


def test_idle_tcp_connections_beyond_the_limit_are_closed_and_the_rest_served(
    internal: DnsServer,
) -> None:
    internal.update(["apps.internal"], {"api.apps.internal": [Target("10.244.0.5", 8080, 0)]})
    limit = server_module.TCP_SESSIONS
    held = [socket.create_connection(("127.0.0.1", internal.port), timeout=5) for _ in range(limit)]
    try:
        wait_until(lambda: internal._sessions._value == 0)  # every one has its thread
        with socket.create_connection(("127.0.0.1", internal.port), timeout=5) as extra:
            assert extra.recv(2) == b""  # closed without a word
        assert addresses(ask(internal, "api.apps.internal")) == ["10.244.0.5"]  # UDP goes on
    finally:
        for conn in held:
            conn.close()
    wait_until(lambda: internal._sessions._value == limit)
    assert addresses(ask(internal, "api.apps.internal", tcp=True)) == ["10.244.0.5"]


def test_a_free_port_whose_tcp_twin_is_taken_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Port 0: UDP picks a free port, and TCP may find the same number taken by another socket."""
    real = DnsServer._bind
    failures = iter([OSError(98, "Address already in use")])

    def flaky(self: DnsServer, port: int) -> tuple[socket.socket, socket.socket]:
        for error in failures:
            raise error
        return real(self, port)

    monkeypatch.setattr(DnsServer, "_bind", flaky)
    server = DnsServer(bind="127.0.0.1", port=0)
    server.update(["apps.internal"], {"api.apps.internal": [Target("10.244.0.5", 8080, 0)]})
    server.start()
    try:
        assert addresses(ask(server, "api.apps.internal", tcp=True)) == ["10.244.0.5"]
    finally:
        server.stop()


def test_a_fixed_port_that_is_taken_is_an_error_at_once() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        server = DnsServer(bind="127.0.0.1", port=holder.getsockname()[1])
        with pytest.raises(OSError):
            server.start()
