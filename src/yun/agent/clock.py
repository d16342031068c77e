"""Time as the agent sees it, behind a small interface.

The crash schedule spans minutes (30 s doubling to 16 min, reset after 5 min RUNNING); tests of it
must not wait that long, so the supervisor reads time only through a `Clock` that a test replaces
with one it advances by hand (kopf's looptime does the same for its timers).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds: deadlines, backoff and uptime are measured with this."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch: what reports carry as `since`, meaningful to other processes."""
        ...

    def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock."""

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
