"""Requests, responses by status class and response times per app and per host, from the
router's access records as they reach the log store.

The access log receiver hands each chunk of records to `record` (one regular-expression pass per
chunk, `rtr.summaries`); the sampler `take`s what gathered since the last sample every ten
seconds, and the running totals feed Prometheus' counters. Nothing here reads per request.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from yun.logstore import rtr

CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
_CLASS_OF = {str(n).encode(): f"{n}xx" for n in range(1, 6)}


@dataclass
class Window:
    """What one app (or host) served since the last sample."""

    responses: Counter[str] = field(default_factory=Counter)  # by status class
    times_ms: list[int] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.responses.values())


def percentile(sorted_values: list[int], share: float) -> float | None:
    """The nearest-rank percentile of values sorted ascending; None for none."""
    if not sorted_values:
        return None
    rank = max(0, min(len(sorted_values) - 1, int(share * len(sorted_values) + 0.5) - 1))
    return float(sorted_values[rank])


class AccessStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._apps: dict[str, Window] = {}
        self._hosts: dict[str, Window] = {}
        self.app_totals: dict[str, Counter[str]] = {}  # app guid → responses by class, ever
        self.host_totals: dict[str, Counter[str]] = {}

    def record(self, app_guid: str, lines: bytes) -> None:
        """Count an app's access records (whole lines, as the log store keeps them)."""
        found = rtr.summaries(lines)
        if not found:
            return
        by_host = Counter((host, _CLASS_OF.get(status[:1], "other")) for host, status, _ in found)
        with self._lock:
            app = self._apps.setdefault(app_guid, Window())
            totals = self.app_totals.setdefault(app_guid, Counter())
            for (host_bytes, kind), count in by_host.items():
                host = host_bytes.decode("ascii", "replace")
                app.responses[kind] += count
                totals[kind] += count
                self._hosts.setdefault(host, Window()).responses[kind] += count
                self.host_totals.setdefault(host, Counter())[kind] += count
            for host_bytes, _, ms in found:
                if ms >= 0:
                    app.times_ms.append(ms)
                    self._hosts[host_bytes.decode("ascii", "replace")].times_ms.append(ms)

    def take(self) -> tuple[dict[str, Window], dict[str, Window]]:
        """What gathered since the last take, per app guid and per host; starts afresh."""
        with self._lock:
            apps, hosts = self._apps, self._hosts
            self._apps, self._hosts = {}, {}
        return apps, hosts

    def forget_apps_but(self, apps: set[str]) -> None:
        """Drop the totals of apps that are gone (deleted), so they do not pile up."""
        with self._lock:
            for guid in set(self.app_totals) - apps:
                del self.app_totals[guid]

    def totals(self) -> tuple[dict[str, Counter[str]], dict[str, Counter[str]]]:
        with self._lock:
            return (
                {k: Counter(v) for k, v in self.app_totals.items()},
                {k: Counter(v) for k, v in self.host_totals.items()},
            )
