"""What the autoscaler measures, from the parts that know: HAProxy and the agent's drivers.

Requests per second and requests in flight come from HAProxy's backend counters (`req_tot`,
`scur`), summed over the app's routes; the 95th percentile response time from the router's
access lines (`Latencies`, fed by the access log receiver); CPU is the rate of each RUNNING
instance's CPU time (cgroup or /proc), averaged, in percent of one core. Rates need two
samples, so the first sample of anything is only remembered; a counter that went backwards (a
reload started a new HAProxy worker) is remembered afresh too.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from yun.logstore import rtr
from yun.router import backend_id

STATS_MAX_AGE = 0.5  # one `show stat` serves every app of one autoscaler pass
LATENCY_WINDOW = 2.0  # seconds of answered requests one p95 sample covers
LATENCY_KEEP = 20_000  # answers remembered per app


class Latencies:
    """Response times of the apps the autoscaler watches, from the router's access lines.

    Only watched apps' lines are read (the access log path stays as cheap as it was for the
    rest); `p95` is over the answers of the last `LATENCY_WINDOW` seconds.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._answers: dict[str, deque[tuple[float, int]]] = {}

    def watch(self, app_guid: str) -> None:
        with self._lock:
            self._answers.setdefault(app_guid, deque(maxlen=LATENCY_KEEP))

    def record(self, app_guid: str, lines: bytes) -> None:
        """Take the response times of an app's access lines (as the log store keeps them)."""
        answers = self._answers.get(app_guid)
        if answers is None:
            return
        now = self.clock()
        times = rtr.response_times(lines)
        with self._lock:
            answers.extend((now, ms) for ms in times)

    def p95(self, app_guid: str) -> float | None:
        now = self.clock()
        with self._lock:
            recent = sorted(
                ms for t, ms in self._answers.get(app_guid, ()) if t > now - LATENCY_WINDOW
            )
        if not recent:
            return None
        return float(recent[min(len(recent) - 1, int(0.95 * len(recent)))])


class PlatformMetrics:
    def __init__(
        self,
        *,
        haproxy: Any,
        agent: Any,
        latencies: Latencies | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.haproxy = haproxy
        self.agent = agent
        self.latencies = latencies
        self.clock = clock
        self._stats: tuple[float, list[dict[str, str]]] = (float("-inf"), [])
        self._counters: dict[str, tuple[float, float]] = {}  # key -> (time, cumulative value)

    def sample(self, app_guid: str, process_guid: str) -> dict[str, float]:
        now = self.clock()
        values: dict[str, float] = {}
        requests = in_flight = 0.0
        seen = False
        for row in self._backend_rows(now):
            found = backend_id(row.get("pxname", "")) or ""
            if found[:36] == app_guid:
                seen = True
                requests += float(row.get("req_tot") or row.get("stot") or 0)
                in_flight += float(row.get("scur") or 0)
        if seen:
            values["concurrency"] = in_flight
            rate = self._rate(f"rps:{app_guid}", now, requests)
            if rate is not None:
                values["rps"] = rate
        cpu = [
            self._rate(f"cpu:{slot}", now, used)
            for slot in self.agent.running_slots(process_guid)
            if (used := self.agent.cpu_seconds(slot)) is not None
        ]
        known = [share for share in cpu if share is not None]
        if known:
            values["cpu"] = 100.0 * sum(known) / len(known)
        if self.latencies is not None:
            self.latencies.watch(app_guid)
            p95 = self.latencies.p95(app_guid)
            if p95 is not None:
                values["p95_ms"] = p95
        return values

    def _backend_rows(self, now: float) -> list[dict[str, str]]:
        taken, rows = self._stats
        if now - taken > STATS_MAX_AGE:
            try:
                rows = self.haproxy.backend_stats()
            except Exception:  # the router restarting: no request metrics this second
                rows = []
            self._stats = (now, rows)
        return rows

    def _rate(self, key: str, now: float, value: float) -> float | None:
        previous = self._counters.get(key)
        self._counters[key] = (now, value)
        if previous is None or value < previous[1] or now <= previous[0]:
            return None
        return (value - previous[1]) / (now - previous[0])
