"""A thin wrapper of the `runc` command line, the only way the driver talks to runc.

Every call passes `--root` (runc's state directory: which containers exist and their init
pids), so several agents or test runs keep separate sets of containers. Arguments are lists,
never shell text. `run_detached` starts a container whose stdio are files the caller opened:
in detached mode without a terminal runc hands its own stdin/stdout/stderr to the container's
first process, so the app writes straight into the log files and outlives both runc and us.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

COMMAND_TIMEOUT = 30.0


class RuncError(RuntimeError):
    """runc failed; the message is runc's own."""


@dataclass(frozen=True)
class ContainerState:
    id: str
    pid: int
    status: str  # "creating", "created", "running", "paused", "stopped"
    bundle: str


def last_error(log: Path) -> str | None:
    """Why runc failed, from its JSON log: its first fatal message (what its setup process
    hit first; the errors after it only say that setup ended), else its last error."""
    message = None
    with contextlib.suppress(OSError):
        for line in log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if not isinstance(entry, dict):
                    continue
                if entry.get("level") == "fatal":
                    return re.sub(r"^nsexec-\d+\[\d+\]: ", "", str(entry.get("msg")))
                if entry.get("level") == "error":
                    message = str(entry.get("msg"))
    return message


class Runc:
    """runc's command line, or that of a runtime that speaks it (gVisor's runsc), whose
    global `flags` go before every command."""

    def __init__(self, binary: str, root: Path, flags: Sequence[str] = ()) -> None:
        self.binary = binary
        self.root = Path(root)
        self.flags = tuple(flags)

    def _argv(self, *args: str) -> list[str]:
        return [self.binary, *self.flags, "--root", str(self.root), *args]

    def _call(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._argv(*args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )

    def run_detached(
        self, container_id: str, *, bundle: Path, stdout: Path, stderr: Path, log: Path
    ) -> None:
        """Create and start the container; returns once its process runs. Raises RuncError."""
        self.root.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        out = os.open(stdout, flags, 0o640)
        try:
            err = os.open(stderr, flags, 0o640)
            try:
                argv = self._argv("--log", str(log), "--log-format", "json")
                argv += ["run", "--detach", "--bundle", str(bundle)]
                result = subprocess.run(
                    [*argv, container_id],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    timeout=COMMAND_TIMEOUT,
                    check=False,
                    start_new_session=True,  # the container must not share our process group
                )
            finally:
                os.close(err)
        finally:
            os.close(out)
        if result.returncode != 0:
            raise RuncError(last_error(log) or f"runc run exited with {result.returncode}")

    def state(self, container_id: str) -> ContainerState | None:
        """The container's state, or None when runc does not know it."""
        result = self._call("state", container_id)
        if result.returncode != 0:
            return None
        try:
            data = json.loads(result.stdout)
            return ContainerState(
                id=str(data["id"]),
                pid=int(data.get("pid") or 0),
                status=str(data["status"]),
                bundle=str(data.get("bundle", "")),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def kill(self, container_id: str, signum: int) -> bool:
        """Signal the container's first process; False when it does not run (any more)."""
        name = signal.Signals(signum).name.removeprefix("SIG")
        return self._call("kill", container_id, name).returncode == 0

    def delete(self, container_id: str) -> None:
        """Kill whatever still runs and forget the container (its cgroup goes too). Idempotent."""
        result = self._call("delete", "--force", container_id)
        if result.returncode != 0 and self.state(container_id) is not None:
            raise RuncError(result.stderr.strip() or f"runc delete {container_id} failed")

    def read(self, container_id: str, *paths: str) -> str:
        """The files at `paths` inside the running container, as its own `cat` prints them
        (`exec`); "" when it cannot (no `cat` in it, or it stopped)."""
        result = self._call("exec", container_id, "cat", *paths)
        return result.stdout if result.returncode == 0 else ""

    def list(self) -> list[ContainerState]:
        result = self._call("list", "--format", "json")
        if result.returncode != 0:
            raise RuncError(result.stderr.strip() or "runc list failed")
        entries = json.loads(result.stdout or "null") or []
        return [
            ContainerState(
                id=str(entry["id"]),
                pid=int(entry.get("pid") or 0),
                status=str(entry["status"]),
                bundle=str(entry.get("bundle", "")),
            )
            for entry in entries
        ]
