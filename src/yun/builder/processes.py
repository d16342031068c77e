"""Run one staging child process and hand its output over line by line, while it runs.

Everything the builder executes (buildpack steps, Stackato hooks, `git clone`) goes through
`run_streaming`, so that a developer watching `yun push` sees pip or npm progress live, and so that
every child gets the same treatment: its own process group (a hung step and anything it spawned
can be killed as a whole), a deadline, and no way to hang staging by leaving a background process
that still holds the output pipe open.

Output is read by one thread per pipe and delivered to the caller's `output` callback on the
caller's own thread, in arrival order.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

Output = Callable[[str], None]

# Cloud Foundry gives a whole staging 15 minutes; no single step may take longer.
STEP_TIMEOUT = 15 * 60.0
# After the main process exits, how long to wait for stragglers that inherited its pipes.
DRAIN_GRACE = 2.0


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str  # only filled when stdout was captured instead of streamed
    timed_out: bool = False


def run_streaming(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    output: Output,
    capture_stdout: bool = False,
    timeout: float = STEP_TIMEOUT,
) -> Completed:
    """Run `argv`; stream stderr (and stdout unless captured) to `output` line by line."""
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if capture_stdout else subprocess.STDOUT,
        start_new_session=True,
    )
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
    readers = [_start_reader(proc.stdout, "stdout", lines)]
    if capture_stdout:
        readers.append(_start_reader(proc.stderr, "stderr", lines))
    captured: list[str] = []
    deadline = time.monotonic() + timeout
    exited_at: float | None = None
    open_streams = len(readers)
    timed_out = False
    try:
        while open_streams:
            try:
                stream, line = lines.get(timeout=0.1)
            except queue.Empty:
                now = time.monotonic()
                if now > deadline:
                    timed_out = True
                    break
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                if exited_at is not None and now - exited_at > DRAIN_GRACE:
                    break
                continue
            if line is None:
                open_streams -= 1
            elif stream == "stdout" and capture_stdout:
                captured.append(line)
            else:
                output(line)
    finally:
        if not timed_out:  # its output ended: let it finish exiting before the group is killed
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=DRAIN_GRACE)
        _kill_group(proc)
        returncode = proc.wait()
        for reader in readers:
            reader.join(timeout=1)
    if timed_out:
        output(f"-----> Stopped after {timeout:.0f} s: {Path(argv[0]).name} took too long")
    return Completed(returncode=returncode, stdout="\n".join(captured), timed_out=timed_out)


def _start_reader(
    pipe: IO[bytes] | None, name: str, lines: queue.Queue[tuple[str, str | None]]
) -> threading.Thread:
    assert pipe is not None

    def read() -> None:
        with pipe:
            for raw in iter(pipe.readline, b""):
                lines.put((name, raw.decode("utf-8", errors="replace").rstrip("\r\n")))
        lines.put((name, None))

    thread = threading.Thread(target=read, name=f"staging-{name}", daemon=True)
    thread.start()
    return thread


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill what is left of the child's process group (stragglers, or a timed-out step)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class Runner(Protocol):
    """How staging runs a child: `run_streaming` on the host, or the same inside a sandbox."""

    def __call__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        output: Output,
        capture_stdout: bool = False,
        timeout: float = STEP_TIMEOUT,
    ) -> Completed: ...
