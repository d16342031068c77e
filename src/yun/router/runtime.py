"""Reading and changing a running HAProxy's slots, host map and targets over its stats socket.

`read_state` is how a manager that did not start HAProxy (a restarted `yun server`) learns what
it serves: `show servers state`, `show map`, `show table`. `run` sends runtime commands in
batches (`;`-separated, one connection per batch) and fails on the first answer HAProxy gives
as an error, so the caller can fall back to a reload.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from yun.router.control import send_command
from yun.router.errors import RouterError
from yun.router.routes import Server
from yun.router.slots import TARGETS_TABLE, RuntimeState, Slots, slot_number

BATCH_BYTES = 8192  # well inside the CLI's line buffer (tune.bufsize, 16 KiB by default)
_MAINT = 0x01 | 0x02 | 0x20 | 0x40  # forced, inherited, resolver and hostname maintenance
_TARGET = re.compile(r"key=(\S+) .*\bserver_id=(\d+)")
_COUNTER = re.compile(r"key=(\S+) .*\bgpc0=(\d+)")
# HAProxy's answers to a runtime command that did not take; anything else is a notice.
_ERRORS = ("no such", "unknown", "invalid", "require", "can't", "cannot", "not found", "error")


def run(stats_socket: Path, commands: Sequence[str]) -> None:
    """Send `commands`; raises RouterError naming the first one HAProxy refused."""
    batch: list[str] = []
    size = 0
    for command in [*commands, ""]:
        if batch and (not command or size + len(command) + 1 > BATCH_BYTES):
            _send(stats_socket, batch)
            batch, size = [], 0
        if command:
            batch.append(command)
            size += len(command) + 1


def _send(stats_socket: Path, batch: list[str]) -> None:
    try:
        answer = send_command(stats_socket, ";".join(batch), timeout=10.0)
    except OSError as exc:
        raise RouterError(f"HAProxy stats socket {stats_socket}: {exc}") from exc
    for line in answer.splitlines():
        if any(word in line.lower() for word in _ERRORS):
            raise RouterError(f"HAProxy refused a runtime change ({batch[0]} …): {line.strip()}")


def read_state(stats_socket: Path, host_map: Path, key_map: Path | None = None) -> RuntimeState:
    """What the running worker serves, read back from it (`key_map`: the API key map, when its
    config has one)."""
    try:
        servers = send_command(stats_socket, "show servers state", timeout=30.0)
        hosts = send_command(stats_socket, f"show map {host_map}", timeout=30.0)
        targets = send_command(stats_socket, f"show table {TARGETS_TABLE}", timeout=30.0)
        keys = send_command(stats_socket, f"show map {key_map}", timeout=30.0) if key_map else ""
    except OSError as exc:
        raise RouterError(f"HAProxy stats socket {stats_socket}: {exc}") from exc
    state = RuntimeState(slots=parse_servers_state(servers))
    for text, found in ((hosts, state.hosts), (keys, state.keys)):
        for line in text.splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[0].startswith("0x"):
                found[fields[1]] = fields[2]
    for line in targets.splitlines():
        if match := _TARGET.search(line):
            state.targets[match.group(1)] = int(match.group(2))
    return state


def parse_servers_state(text: str) -> dict[str, Slots]:
    """`show servers state` (format 1) as every backend's slots: a slot in maintenance is empty,
    the others hold a server named after the slot (the manager learns the rest on its next pass)."""
    found: dict[str, dict[int, Server | None]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 19 or not fields[0].isdigit():
            continue
        backend, slot, address = fields[1], fields[3], fields[4]
        admin, weight, port = int(fields[6]), int(fields[7]), fields[18]
        number = slot_number(slot)
        if number is None:
            continue  # not one of Yun's slots
        server = None
        if not admin & _MAINT and port.isdigit():
            server = Server(f"{backend}/{slot}", address, int(port), weight=weight)
        found.setdefault(backend, {})[number] = server
    return {
        backend: tuple(numbered.get(n) for n in range(1, max(numbered) + 1))
        for backend, numbered in found.items()
    }


def read_counters(stats_socket: Path, table: str) -> dict[str, int]:
    """A counting table's entries: key → gpc0 (empty if HAProxy has no such table)."""
    try:
        text = send_command(stats_socket, f"show table {table}", timeout=10.0)
    except OSError as exc:
        raise RouterError(f"HAProxy stats socket {stats_socket}: {exc}") from exc
    return {m.group(1): int(m.group(2)) for m in _COUNTER.finditer(text)}
