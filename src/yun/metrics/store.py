"""The metrics store: ten-second samples of instances, apps, routes and services, on disk, bounded.

Each entity (an instance, an app, a route's host, a service instance) of a kind has a fixed list
of fields (`FIELDS`). A sample is one record, the time (float64 seconds) and one float32 per
field (NaN where unknown), appended to the entity's file for its UTC day:
`<root>/full/<YYYY-MM-DD>/<kind>/<key>`. Records of one size make a file an array: a time range
is a binary search and one read. Rates are stored (requests per second, not counts), so a mean
over a longer step is still right.

The size is bounded by time, not by luck: today's and yesterday's files stay at full
resolution (so at least the last 24 hours are at 10 s); an older day is thinned to one point a
minute (each field's mean) under `<root>/thinned/<day>`, and a day past `keep_days` goes. At
100 instances a full day takes about 31 MB (`bench/metrics.py`).

An entity's labels (its org, space, app, process, index) are kept beside, in
`<root>/labels/<kind>/<key>.json`, and in memory, so readers find an app's instances.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
import os
import shutil
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

FIELDS: dict[str, tuple[str, ...]] = {
    "instance": (
        "cpu_percent",  # of one core
        "memory_bytes",
        "memory_limit_bytes",
        "disk_bytes",
        "disk_quota_bytes",
        "restarts",  # crashes of the slot so far
        "uptime_seconds",
    ),
    "app": (
        "requests_per_second",
        "responses_1xx_per_second",
        "responses_2xx_per_second",
        "responses_3xx_per_second",
        "responses_4xx_per_second",
        "responses_5xx_per_second",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "concurrency",  # requests in flight at the router
        "cpu_percent",  # its running instances', summed
        "memory_bytes",  # the same
        "instances_running",
    ),
    "route": (
        "requests_per_second",
        "responses_5xx_per_second",
        "latency_p95_ms",
    ),
    "service": (
        "ready",  # 1 when its last operation succeeded
        "size_bytes",  # the built-in services': the database's or the dataset's size
        "connections",
    ),
}
INTERVAL = 10.0  # seconds between samples
THIN_STEP = 60.0  # seconds a thinned point covers
KEEP_DAYS = 7


class Sample(NamedTuple):
    kind: str
    key: str  # the entity's guid (a route's: its host)
    labels: Mapping[str, str]
    values: Mapping[str, float | None]


class Series(NamedTuple):
    fields: tuple[str, ...]
    points: list[tuple[float, tuple[float | None, ...]]]  # (time, a value per field)


def _record(kind: str) -> struct.Struct:
    return struct.Struct(f"<d{len(FIELDS[kind])}f")


def _day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


def _day_start(day: str) -> float:
    return dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC).timestamp()


def _safe(key: str) -> str:
    """`key` as a file name: a guid or a host name, nothing that walks out of the folder."""
    if not key or key.startswith(".") or "/" in key or "\0" in key:
        raise ValueError(f"not a metrics key: {key!r}")
    return key


class MetricsStore:
    def __init__(
        self, root: Path, *, keep_days: int = KEEP_DAYS, clock: Callable[[], float] = time.time
    ) -> None:
        self.root = root
        self.keep_days = keep_days
        self.clock = clock
        self._lock = threading.Lock()
        self._labels: dict[tuple[str, str], dict[str, str]] = {}
        for kind in FIELDS:
            folder = root / "labels" / kind
            for path in folder.glob("*.json") if folder.is_dir() else ():
                try:
                    self._labels[(kind, path.stem)] = dict(json.loads(path.read_text()))
                except (OSError, ValueError, TypeError):
                    continue

    def write(self, ts: float, samples: Iterable[Sample]) -> None:
        """Append one record per sample, at time `ts`."""
        day = self.root / "full" / _day(ts)
        made: set[Path] = set()
        with self._lock:
            for sample in samples:
                fields = FIELDS[sample.kind]
                values = [sample.values.get(name) for name in fields]
                record = _record(sample.kind).pack(
                    ts, *(math.nan if v is None else float(v) for v in values)
                )
                folder = day / sample.kind
                if folder not in made:  # once per kind, not once per sample
                    folder.mkdir(parents=True, exist_ok=True)
                    made.add(folder)
                with (folder / _safe(sample.key)).open("ab") as out:
                    out.write(record)
                self._keep_labels(sample)

    def _keep_labels(self, sample: Sample) -> None:
        labels = dict(sample.labels)
        if self._labels.get((sample.kind, sample.key)) == labels:
            return
        self._labels[(sample.kind, sample.key)] = labels
        folder = self.root / "labels" / sample.kind
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{_safe(sample.key)}.json").write_text(json.dumps(labels))

    def keys(self, kind: str, **labels: str) -> list[str]:
        """The keys of `kind` whose labels include `labels`."""
        with self._lock:
            return sorted(
                key
                for (k, key), have in self._labels.items()
                if k == kind and all(have.get(name) == value for name, value in labels.items())
            )

    def labels(self, kind: str, key: str) -> dict[str, str]:
        with self._lock:
            return dict(self._labels.get((kind, key), {}))

    def read(self, kind: str, key: str, since: float, until: float | None = None) -> Series:
        """The points of one entity from `since` to `until` (now), oldest first: full
        resolution where it is kept, one a minute before."""
        until = self.clock() if until is None else until
        record = _record(kind)
        points: list[tuple[float, tuple[float | None, ...]]] = []
        day = _day_start(_day(since))
        while day <= until:
            name = _day(day)
            for tier in ("full", "thinned"):
                path = self.root / tier / name / kind / _safe(key)
                if path.exists():
                    points += self._read_range(path, record, since, until)
                    break
            day += 86400.0
        return Series(FIELDS[kind], points)

    @staticmethod
    def _read_range(
        path: Path, record: struct.Struct, since: float, until: float
    ) -> list[tuple[float, tuple[float | None, ...]]]:
        data = path.read_bytes()
        count = len(data) // record.size  # a record being written is not whole yet
        first = bisect.bisect_left(range(count), since, key=lambda i: _time_at(data, record, i))
        found = []
        for index in range(first, count):
            ts, *values = record.unpack_from(data, index * record.size)
            if ts > until:
                break
            found.append((ts, tuple(None if math.isnan(v) else v for v in values)))
        return found

    def thin(self) -> None:
        """Thin the days before yesterday to a point a minute; delete days past `keep_days`."""
        today = _day_start(_day(self.clock()))
        oldest_kept = today - self.keep_days * 86400.0
        with self._lock:
            for folder in sorted((self.root / "full").glob("*")):
                start = _day_start(folder.name)
                if start < today - 86400.0:
                    if start >= oldest_kept:
                        self._thin_day(folder, self.root / "thinned" / folder.name)
                    shutil.rmtree(folder)
            for folder in sorted((self.root / "thinned").glob("*")):
                if _day_start(folder.name) < oldest_kept:
                    shutil.rmtree(folder)
            self._forget_labels()

    @staticmethod
    def _thin_day(source: Path, target: Path) -> None:
        for kind, fields in FIELDS.items():
            record = _record(kind)
            for path in (source / kind).glob("*") if (source / kind).is_dir() else ():
                sums: dict[int, list[float]] = {}
                counts: dict[int, list[int]] = {}
                for ts, *values in record.iter_unpack(
                    path.read_bytes()[: path.stat().st_size // record.size * record.size]
                ):
                    step = int(ts // THIN_STEP)
                    total = sums.setdefault(step, [0.0] * len(fields))
                    seen = counts.setdefault(step, [0] * len(fields))
                    for i, value in enumerate(values):
                        if not math.isnan(value):
                            total[i] += value
                            seen[i] += 1
                (target / kind).mkdir(parents=True, exist_ok=True)
                with (target / kind / path.name).open("wb") as out:
                    for step in sorted(sums):
                        means = [
                            t / n if n else math.nan
                            for t, n in zip(sums[step], counts[step], strict=True)
                        ]
                        out.write(record.pack(step * THIN_STEP, *means))

    def _forget_labels(self) -> None:
        """Labels of entities that have no points left."""
        held = {
            (path.parent.name, path.name)
            for tier in ("full", "thinned")
            for path in (self.root / tier).glob("*/*/*")
        }
        for kind, key in [k for k in self._labels if k not in held]:
            del self._labels[(kind, key)]
            (self.root / "labels" / kind / f"{key}.json").unlink(missing_ok=True)

    def size_bytes(self) -> int:
        total = 0
        for folder, _dirs, files in os.walk(self.root):
            total += sum(os.path.getsize(os.path.join(folder, name)) for name in files)
        return total


def _time_at(data: bytes, record: struct.Struct, index: int) -> float:
    (ts,) = struct.unpack_from("<d", data, index * record.size)
    return float(ts)
