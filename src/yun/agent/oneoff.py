"""One-off processes on an app's droplet, run to completion: Heroku's release phase.

A one-off is started by the same driver as the app's instances (same stack, container, limits,
environment), but nobody supervises or restarts it: it runs once, its output goes to `output`
line by line while it runs, and its exit status is the result. Its run directory lives under
the agent's root in `.oneoff/` (dot folders are not instances: the agent never adopts them),
and is removed with the process.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from yun.agent.drivers.base import Driver, ExitStatus, Handle
from yun.agent.env import instance_environment
from yun.agent.specs import InstanceSpec

POLL = 0.1
STOP_GRACE = 10.0
ONEOFF_DIR = ".oneoff"


def run_once(
    driver: Driver,
    spec: InstanceSpec,
    *,
    root: Path,
    output: Callable[[str], None],
    timeout: float,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    instance_guid: str | None = None,
    env: Mapping[str, str] | None = None,
    credentials: Path | None = None,
) -> ExitStatus:
    """Run `spec` once through `driver`; its output lines go to `output` as they come. Setting
    `stop` stops it (SIGTERM, then SIGKILL after a grace period), as does `timeout`. `env` goes
    below the platform's (the app's live configuration); `credentials` is its identity."""
    instance_guid = instance_guid or str(uuid.uuid4())
    run_dir = root / ONEOFF_DIR / f"{spec.process_type}-{instance_guid[:8]}"
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**(env or {}), **instance_environment(spec, instance_guid=instance_guid)}
    handle = driver.start(spec, run_dir=run_dir, env=full_env, credentials=credentials)
    reader = _Lines(handle)
    try:
        deadline = clock() + timeout
        while driver.alive(handle):
            reader.read(output)
            if clock() > deadline:
                driver.stop(handle, grace=STOP_GRACE)
                reader.read(output, final=True)
                return ExitStatus(code=None, reason=f"did not finish within {timeout:g}s")
            if stop is not None and stop.is_set():
                driver.stop(handle, grace=STOP_GRACE)
                reader.read(output, final=True)
                return ExitStatus(code=None, reason="stopped")
            time.sleep(POLL)
        reader.read(output, final=True)
        return driver.exit_status(handle)
    finally:
        driver.remove(handle)


class _Lines:
    """Complete lines appended to the handle's log files since the last read."""

    def __init__(self, handle: Handle) -> None:
        self.files = dict(handle.logs)
        self.offsets = dict.fromkeys(self.files, 0)
        self.rests = dict.fromkeys(self.files, b"")

    def read(self, output: Callable[[str], None], *, final: bool = False) -> None:
        for stream, path in self.files.items():
            try:
                with path.open("rb") as handle:
                    handle.seek(self.offsets[stream])
                    data = handle.read()
            except OSError:
                continue
            self.offsets[stream] += len(data)
            *lines, rest = (self.rests[stream] + data).split(b"\n")
            self.rests[stream] = rest
            if final and rest:
                lines.append(rest)
                self.rests[stream] = b""
            for line in lines:
                output(line.decode(errors="replace"))
