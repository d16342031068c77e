"""Runs reconcilers: worker threads take keys from one queue and call the controller owning them.

`reconcile(key)` looks at current state only and returns when to look again; an exception means
"retry later" with the backoff written out in `Timing.reconcile_errors`.

Controllers are woken by whoever changes what they look after. As a safety net for a wake that
was missed, the resync keys are queued again every `Timing.resync_every` seconds when the store
was written since the last resync (`changes`), and every `Timing.resync_quiet_every` seconds
when it was not: an idle platform does not re-read everything every few seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from yun.controllers.runtime.queueing import WorkQueue
from yun.settings import Timing

log = logging.getLogger("yun.controllers")


@dataclass(frozen=True)
class Result:
    requeue_after: float | None = None


class Reconciler(Protocol):
    prefix: str
    """Keys equal to this, or starting with `prefix + ':'`, belong to this reconciler."""

    def reconcile(self, key: str) -> Result: ...


class Manager:
    def __init__(
        self,
        reconcilers: Sequence[Reconciler],
        *,
        timing: Timing,
        workers: int = 3,
        resync_keys: Sequence[str] = (),
        observe: Callable[[str, float, bool], None] | None = None,
        changes: Callable[[], int] | None = None,
    ) -> None:
        """`observe(prefix, seconds, failed)` is told of every reconcile (for metrics);
        `changes()` counts the store's writes so far (without it, every resync runs)."""
        self.queue = WorkQueue()
        self._reconcilers = list(reconcilers)
        self._timing = timing
        self._workers = workers
        self._resync_keys = list(resync_keys)
        self._failures: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._observe = observe
        self._changes = changes

    def depths(self) -> dict[str, int]:
        """Keys waiting to be reconciled now, per reconciler prefix."""
        found = {rec.prefix: 0 for rec in self._reconcilers}
        for key in self.queue.ready_keys():
            if (owner := self._owner(key)) is not None:
                found[owner.prefix] += 1
        return found

    def wake(self, key: str) -> None:
        self.queue.add(key)

    def _owner(self, key: str) -> Reconciler | None:
        for rec in self._reconcilers:
            if key == rec.prefix or key.startswith(rec.prefix + ":"):
                return rec
        return None

    def _work(self) -> None:
        while not self._stopping.is_set():
            key = self.queue.get(timeout=0.5)
            if key is None:
                continue
            try:
                self._run(key)
            finally:
                self.queue.done(key)

    def _run(self, key: str) -> None:
        owner = self._owner(key)
        if owner is None:
            log.warning("no reconciler for key %s", key)
            return
        started = time.monotonic()
        try:
            result = owner.reconcile(key)
        except Exception:
            if self._observe is not None:
                self._observe(owner.prefix, time.monotonic() - started, True)
            count = self._failures.get(key, 0)
            delays = self._timing.reconcile_errors
            delay = delays[min(count, len(delays) - 1)]
            self._failures[key] = count + 1
            log.exception("reconcile %s failed; retrying in %.1fs", key, delay)
            self.queue.add(key, delay)
            return
        if self._observe is not None:
            self._observe(owner.prefix, time.monotonic() - started, False)
        self._failures.pop(key, None)
        if result.requeue_after is not None:
            self.queue.add(key, result.requeue_after)

    def _resync(self) -> None:
        seen = self._changes() if self._changes is not None else None
        last = time.monotonic()
        while not self._stopping.wait(self._timing.resync_every):
            now = time.monotonic()
            changes = self._changes() if self._changes is not None else None
            quiet = changes is not None and changes == seen
            if quiet and now - last < self._timing.resync_quiet_every:
                continue
            seen, last = changes, now
            for key in self._resync_keys:
                self.queue.add(key)

    def start(self) -> None:
        for key in self._resync_keys:
            self.queue.add(key)
        for i in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"reconciler-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        resync = threading.Thread(target=self._resync, name="resync", daemon=True)
        resync.start()
        self._threads.append(resync)

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        self.queue.close()
        for thread in self._threads:
            thread.join(timeout)
