"""A work queue that de-duplicates keys and handles delays (controller-runtime's workqueue).

A key that is added while it is queued stays queued once; a key added while a worker holds it is
marked dirty and queued again when the worker is done, so no change is lost and no key is
reconciled by two workers at once.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable


class WorkQueue:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._ready: list[str] = []
        self._queued: set[str] = set()
        self._processing: set[str] = set()
        self._dirty: set[str] = set()
        self._delayed: list[tuple[float, int, str]] = []
        self._seq = 0
        self._closed = False

    def ready_keys(self) -> list[str]:
        """The keys waiting for a worker now (not the delayed ones)."""
        with self._cond:
            return list(self._ready)

    def add(self, key: str, delay: float = 0.0) -> None:
        with self._cond:
            if self._closed:
                return
            if delay > 0:
                self._seq += 1
                heapq.heappush(self._delayed, (self._clock() + delay, self._seq, key))
            elif key in self._processing:
                self._dirty.add(key)
            elif key not in self._queued:
                self._queued.add(key)
                self._ready.append(key)
            self._cond.notify()

    def _promote(self) -> float | None:
        now = self._clock()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            if key in self._processing:
                self._dirty.add(key)
            elif key not in self._queued:
                self._queued.add(key)
                self._ready.append(key)
        return self._delayed[0][0] - now if self._delayed else None

    def get(self, timeout: float = 1.0) -> str | None:
        deadline = self._clock() + timeout
        with self._cond:
            while True:
                wait = self._promote()
                for i, key in enumerate(self._ready):
                    if key not in self._processing:
                        del self._ready[i]
                        self._queued.discard(key)
                        self._processing.add(key)
                        return key
                if self._closed:
                    return None
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, wait) if wait is not None else remaining)

    def done(self, key: str) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                if key not in self._queued:
                    self._queued.add(key)
                    self._ready.append(key)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._ready) + len(self._delayed)
