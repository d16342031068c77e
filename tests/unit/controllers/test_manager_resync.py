"""The manager's resync: keys are queued again every `resync_every` while the store is being
written, and only every `resync_quiet_every` while it is not (an idle platform rests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tests.helpers import wait_until

from yun.controllers.runtime.managing import Manager, Result
from yun.settings import Timing


class _Counting:
    prefix = "things"

    def __init__(self) -> None:
        self.passes = 0
        self.lock = threading.Lock()

    def reconcile(self, key: str) -> Result:
        with self.lock:
            self.passes += 1
        return Result()


def _manager(counting: _Counting, changes: Callable[[], int] | None) -> Manager:
    timing = Timing(resync_every=0.02, resync_quiet_every=3600.0)
    return Manager([counting], timing=timing, resync_keys=["things"], changes=changes)


def test_a_quiet_store_is_not_resynced_and_a_written_one_is() -> None:
    writes = [0]
    counting = _Counting()
    manager = _manager(counting, lambda: writes[0])
    manager.start()
    try:
        wait_until(lambda: counting.passes == 1)  # the first pass, at start
        time.sleep(0.3)  # fifteen resync periods without a write
        assert counting.passes == 1
        writes[0] += 1
        wait_until(lambda: counting.passes == 2)
        time.sleep(0.3)
        assert counting.passes == 2
    finally:
        manager.stop()


def test_without_a_count_of_writes_every_resync_runs() -> None:
    counting = _Counting()
    manager = _manager(counting, None)
    manager.start()
    try:
        wait_until(lambda: counting.passes >= 5)
    finally:
        manager.stop()
