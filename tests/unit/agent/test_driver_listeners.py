"""Reading the TCP ports an instance listens on from /proc (what a failed start points at)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from yun.agent.drivers.listeners import (
    listening_sockets,
    ports_of_namespace,
    ports_of_processes,
)

# In the format of /proc/net/tcp6 and tcp: a listener on [::]:5000, one on 127.0.0.1:8080, and
# a connection accepted on 8080 (state 01, established), which is not listening.
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1388 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
"""  # noqa: E501
TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 77 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000  1000        0 78 1 0000000000000000 20 4 30 10 -1
"""  # noqa: E501


def test_listening_sockets_of_a_table() -> None:
    assert listening_sockets(TCP) == {77: 8080}
    assert listening_sockets(TCP6) == {4242: 5000}
    assert listening_sockets("") == {}


@pytest.fixture
def sockets() -> Iterator[dict[str, int]]:
    """A listener, a socket bound but not listening, and a connected pair, in this process."""
    made: list[socket.socket] = []

    def bound(family: socket.AddressFamily, address: str) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        made.append(sock)
        sock.bind((address, 0))
        return sock

    listener = bound(socket.AF_INET, "127.0.0.1")
    listener.listen()
    idle = bound(socket.AF_INET, "127.0.0.1")
    client = socket.create_connection(listener.getsockname()[:2])
    made.append(client)
    ports = {
        "listener": listener.getsockname()[1],
        "idle": idle.getsockname()[1],
        "client": client.getsockname()[1],
    }
    if socket.has_ipv6:
        try:
            six = bound(socket.AF_INET6, "::1")
        except OSError:
            pass  # no IPv6 on this host's loopback
        else:
            six.listen()
            ports["six"] = six.getsockname()[1]
    yield ports
    for sock in made:
        sock.close()


def test_ports_of_processes_are_their_listening_sockets(sockets: dict[str, int]) -> None:
    found = ports_of_processes([os.getpid()])
    assert sockets["listener"] in found
    assert sockets["idle"] not in found
    assert sockets["client"] not in found
    if "six" in sockets:
        assert sockets["six"] in found


def test_ports_of_a_namespace_include_every_listener(sockets: dict[str, int]) -> None:
    found = ports_of_namespace(os.getpid())
    assert sockets["listener"] in found
    assert sockets["idle"] not in found


def test_gone_processes_listen_on_nothing() -> None:
    gone = 2**22 + 1  # above the kernel's pid_max limit: never a process
    assert ports_of_processes([gone]) == set()
    assert ports_of_namespace(gone) == set()
