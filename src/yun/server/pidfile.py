"""The server's pid file, so `yun server stop` finds the server of the same `YUN_HOME`."""

from __future__ import annotations

import os
from pathlib import Path


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def write_pid(path: Path) -> None:
    path.write_text(f"{os.getpid()}\n")
