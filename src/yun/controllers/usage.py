"""Records usage events every minute (`store.usage.record`): what each app, task and service
instance uses, whenever that changes, for `yun usage`."""

from __future__ import annotations

import time
from collections.abc import Callable

from yun.controllers.runtime.managing import Result
from yun.store.session import Store
from yun.store.usage import record

EVERY = 60.0  # seconds: usage is exact to this


class UsageRecorder:
    prefix = "usage"

    def __init__(self, *, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def reconcile(self, key: str) -> Result:
        with self.store.session() as session:
            record(session, self.clock())
        return Result(requeue_after=EVERY)
