"""The service port allocator against real sockets on loopback."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import pytest

from yun.brokers.builtin.base import BackendError
from yun.brokers.builtin.ports import PortAllocator, listening


@pytest.fixture
def first() -> int:
    """The start of a block of 5 ports below the ephemeral range that nothing listens on."""
    for _ in range(100):
        start = random.randrange(20000, 30000, 5)
        if not any(listening(port) for port in range(start, start + 5)):
            return start
    pytest.skip("no quiet block of ports found")


@pytest.fixture
def listener(first: int) -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", first))
    sock.listen()
    try:
        yield sock
    finally:
        sock.close()


def test_hands_out_the_lowest_free_port_and_never_twice(first: int) -> None:
    ports = PortAllocator((first, first + 4))
    assert [ports.allocate() for _ in range(5)] == list(range(first, first + 5))
    with pytest.raises(BackendError, match=f"{first}-{first + 4}"):
        ports.allocate()


def test_skips_a_port_something_listens_on(first: int, listener: socket.socket) -> None:
    assert listening(first)
    assert PortAllocator((first, first + 4)).allocate() == first + 1


def test_a_listener_on_another_address_counts_too(first: int) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.2", first))
        sock.listen()
        assert PortAllocator((first, first + 4)).allocate() == first + 1


def test_skips_ports_a_backend_has_recorded(first: int) -> None:
    recorded = [first, first + 2]
    ports = PortAllocator((first, first + 4))
    ports.track(lambda: recorded)
    assert ports.allocate() == first + 1
    assert ports.allocate() == first + 3
    recorded.remove(first)  # its instance was deprovisioned
    assert ports.allocate() == first


def test_a_released_port_can_be_handed_out_again(first: int) -> None:
    ports = PortAllocator((first, first))
    port = ports.allocate()
    ports.release(port)
    assert ports.allocate() == port


def test_a_range_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="not a port range"):
        PortAllocator((42000, 41000))
