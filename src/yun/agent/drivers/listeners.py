"""Which TCP ports an instance listens on, read from /proc: to tell a user whose app never
answered on $PORT where it listens instead.

The kernel lists a network namespace's sockets in `/proc/<pid>/net/tcp` and `tcp6` (any pid
of that namespace will do); listening ones are in state `0A` (TCP_LISTEN). Which process owns a
socket shows only in `/proc/<pid>/fd`, whose links read `socket:[<inode>]`. So:

- an instance sharing the host's network (the process driver, runc without networking) listens
  on the ports of the listening sockets its own processes hold;
- a container with a network namespace of its own listens on every listening port of it.

Read only when a start failed, never on a hot path: a host's socket tables can be long. Every
reader tolerates processes and namespaces vanishing under it (an empty answer, not an error).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

TCP_LISTEN = "0A"
TABLES = ("tcp", "tcp6")
PROC = Path("/proc")


def listening_sockets(table: str) -> dict[int, int]:
    """Inode -> local port of the listening sockets of a `/proc/net/tcp` or `tcp6` text."""
    found: dict[int, int] = {}
    for line in table.splitlines()[1:]:  # the first line names the columns
        fields = line.split()
        if len(fields) < 10 or fields[3] != TCP_LISTEN:
            continue
        with contextlib.suppress(ValueError):
            found[int(fields[9])] = int(fields[1].rpartition(":")[2], 16)
    return found


def _namespace_sockets(pid: int) -> dict[int, int]:
    found: dict[int, int] = {}
    for name in TABLES:
        with contextlib.suppress(OSError):
            found.update(listening_sockets((PROC / str(pid) / "net" / name).read_text()))
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    fd_dir = PROC / str(pid) / "fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return inodes
    for fd in fds:
        with contextlib.suppress(OSError):
            target = os.readlink(fd_dir / fd)
            if target.startswith("socket:[") and target.endswith("]"):
                inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def ports_of_processes(pids: Iterable[int]) -> set[int]:
    """TCP ports the processes `pids` listen on, IPv4 and IPv6; the pids share one network
    namespace (the first that still exists has its table read)."""
    held: set[int] = set()
    table: dict[int, int] | None = None
    for pid in pids:
        inodes = _socket_inodes(pid)
        if inodes and table is None:
            table = _namespace_sockets(pid)
        held |= inodes
    if not table:
        return set()
    return {port for inode, port in table.items() if inode in held}


def ports_of_namespace(pid: int) -> set[int]:
    """Every TCP port listened on in the network namespace of `pid`, IPv4 and IPv6."""
    return set(_namespace_sockets(pid).values())
