"""The metrics store: records per entity and day, read back by time, thinned and bounded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from yun.metrics.access import AccessStats, percentile
from yun.metrics.store import FIELDS, MetricsStore, Sample

DAY = dt.datetime(2026, 12, 6, tzinfo=dt.UTC).timestamp()
GUID = "0c5e2a4b-7d1f-4c3a-9b8e-6f2d1a0e5c47"


def instance(cpu: float | None, key: str = GUID, app: str = "app-1") -> Sample:
    return Sample("instance", key, {"app_guid": app, "instance": "0"}, {"cpu_percent": cpu})


def test_points_read_back_by_time_across_days_with_unknowns_as_none(tmp_path: Path) -> None:
    now = [DAY + 86400 + 30]
    store = MetricsStore(tmp_path, clock=lambda: now[0])
    for step in range(-3, 4):  # three before midnight, four after
        store.write(DAY + 86400 + step * 10, [instance(float(step) if step != 0 else None)])

    series = store.read("instance", GUID, since=DAY + 86400 - 15)

    assert series.fields == FIELDS["instance"]
    assert [t - DAY - 86400 for t, _ in series.points] == [-10, 0, 10, 20, 30]
    assert [values[0] for _, values in series.points] == [-1.0, None, 1.0, 2.0, 3.0]
    assert all(value is None for _, values in series.points for value in values[1:])
    assert store.read("instance", GUID, since=DAY + 86400 + 5, until=DAY + 86400 + 25).points[0][
        0
    ] == pytest.approx(DAY + 86400 + 10)


def test_labels_find_an_apps_instances_and_survive_a_restart(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path, clock=lambda: DAY)
    store.write(
        DAY, [instance(1.0, "i-1", "a"), instance(2.0, "i-2", "a"), instance(3.0, "i-3", "b")]
    )

    again = MetricsStore(tmp_path, clock=lambda: DAY)

    assert again.keys("instance", app_guid="a") == ["i-1", "i-2"]
    assert again.labels("instance", "i-3") == {"app_guid": "b", "instance": "0"}


def test_older_days_are_thinned_to_a_point_a_minute_and_dropped_past_the_limit(
    tmp_path: Path,
) -> None:
    now = [DAY]
    store = MetricsStore(tmp_path, keep_days=3, clock=lambda: now[0])
    for step in range(12):  # two minutes of ten-second points: 0..5 and 6..11
        store.write(DAY + step * 10, [instance(float(step))])
    full = store.size_bytes()

    now[0] = DAY + 2 * 86400 + 60  # two days later: the day is past yesterday
    store.thin()

    thinned = store.read("instance", GUID, since=DAY)
    assert [(t - DAY, values[0]) for t, values in thinned.points] == [(0, 2.5), (60, 8.5)]
    assert store.size_bytes() < full
    now[0] = DAY + 4 * 86400
    store.thin()
    assert store.read("instance", GUID, since=DAY).points == []
    assert store.keys("instance") == []  # no points left: its labels go too


def test_keys_that_would_leave_the_folder_are_refused(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path)
    for key in ("../escape", ".hidden", ""):
        with pytest.raises(ValueError):
            store.write(DAY, [instance(1.0, key)])


def test_access_records_give_counts_by_class_and_percentiles() -> None:
    def record(status: int, ms: int, host: str = "a.apps.localhost") -> bytes:
        return (
            f"yunrtr6 be_{GUID}_web 1796406201002 {ms} {status} 80 216 127.0.0.1:1 127.0.0.1:2"
            f' x-1-0 -- GET HTTP/1.1 - "{host}" "/" "ua" "" "rid" ""\n'
        ).encode()

    stats = AccessStats()
    stats.record(GUID, b"".join(record(200, ms) for ms in range(1, 101)))
    stats.record(GUID, record(503, -1, "b.apps.localhost"))

    apps, hosts = stats.take()
    assert apps[GUID].responses == {"2xx": 100, "5xx": 1}
    times = sorted(apps[GUID].times_ms)
    assert (percentile(times, 0.5), percentile(times, 0.99)) == (50.0, 99.0)
    assert hosts["b.apps.localhost"].responses == {"5xx": 1}
    assert stats.take() == ({}, {})  # taken: the next sample starts afresh
    assert stats.totals()[0][GUID] == {"2xx": 100, "5xx": 1}  # the totals stay
    stats.forget_apps_but(set())  # until the app is gone
    assert stats.totals()[0] == {}
