"""What the autoscaler measures, from the parts that know: HAProxy and the agent's drivers.

Requests per second and requests in flight come from HAProxy's backend counters (`req_tot`,
`scur`), summed over the app's routes; CPU is the rate of each RUNNING instance's CPU time
(cgroup or /proc), averaged, in percent of one core. Rates need two samples, so the first
sample of anything is only remembered; a counter that went backwards (a reload started a new
HAProxy worker) is remembered afresh too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from yun.router import backend_id

STATS_MAX_AGE = 0.5  # one `show stat` serves every app of one autoscaler pass


class PlatformMetrics:
    def __init__(
        self, *, haproxy: Any, agent: Any, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.haproxy = haproxy
        self.agent = agent
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
        return values

    def _backend_rows(self, now: float) -> list[dict[str, str]]:
        taken, rows = self._stats
        if now - taken > STATS_MAX_AGE:
            try:
                rows = [r for r in self.haproxy.stats() if r.get("svname") == "BACKEND"]
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
