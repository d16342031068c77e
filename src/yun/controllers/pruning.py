"""Keeps the audit trail bounded: events older than `YUN_EVENTS_DAYS` (90) go, and beyond the
newest `YUN_EVENTS_MAX` (100,000) the oldest go, every ten minutes. Apps' log files that hold
only lines older than `YUN_LOG_DAYS` (7) go too; their size the log store bounds itself."""

from __future__ import annotations

import logging

from yun.controllers.runtime.managing import Result
from yun.logstore import LogStore
from yun.store import events
from yun.store.session import Store

log = logging.getLogger(__name__)
EVERY = 600.0


class EventPruner:
    prefix = "events"

    def __init__(self, *, store: Store, max_days: int, max_count: int) -> None:
        self.store = store
        self.max_age = max_days * 86400.0
        self.max_count = max_count

    def reconcile(self, key: str) -> Result:
        with self.store.session() as session:
            gone = events.prune(session, max_age=self.max_age, max_count=self.max_count)
        if gone:
            log.info("pruned %d old events", gone)
        return Result(requeue_after=EVERY)


class LogPruner:
    prefix = "logs"

    def __init__(self, *, logs: LogStore) -> None:
        self.logs = logs

    def reconcile(self, key: str) -> Result:
        if gone := self.logs.prune():
            log.info("pruned %d log files past their age", gone)
        return Result(requeue_after=EVERY)
