"""Talking to HAProxy's runtime API over its UNIX sockets (master CLI and stats socket).

Both sockets speak the same line protocol: send one command, half-close, read until HAProxy
closes. The master CLI additionally answers `show proc`, which is how the manager learns which
workers exist and whether a reload succeeded.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

_FAILED = re.compile(r"\[failed:\s*(\d+)\]")


def send_command(path: Path, command: str, *, timeout: float = 5.0) -> str:
    """Send one runtime-API command and return HAProxy's whole answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(command.encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


@dataclass(frozen=True)
class ProcessTable:
    """The master CLI's `show proc`: the master, its current workers and the draining ones."""

    master: int
    reloads: int
    failed_reloads: int
    workers: tuple[int, ...]
    old_workers: tuple[int, ...]


def parse_show_proc(text: str) -> ProcessTable:
    """Parse `show proc` (HAProxy 2.6 layout: a master line, then '# workers', '# old workers')."""
    section = "master"
    master = reloads = failed = 0
    workers: list[int] = []
    old: list[int] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            heading = stripped.lstrip("#").strip()
            if heading in ("workers", "old workers", "programs"):
                section = heading
            continue
        fields = stripped.split()
        if len(fields) < 3 or not fields[0].isdigit():
            continue
        pid = int(fields[0])
        if section == "master" and fields[1] == "master":
            master, reloads = pid, int(fields[2])
            if match := _FAILED.search(stripped):
                failed = int(match.group(1))
        elif section == "workers":
            workers.append(pid)
        elif section == "old workers":
            old.append(pid)
    if not master:
        raise ValueError(f"not a 'show proc' answer: {text[:200]!r}")
    return ProcessTable(master, reloads, failed, tuple(workers), tuple(old))
