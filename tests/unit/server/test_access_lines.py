"""Router access lines land in their apps' logs, a batch at a time, in order."""

from __future__ import annotations

from pathlib import Path

from yun.logstore import LogStore
from yun.server.metrics import Latencies
from yun.server.platform import store_access_lines

WEB = "0f8e9a56-1c1e-4c53-9d1e-3a3a2b1c0d01"
API = "7d2b1a0c-5e4f-4a3b-8c2d-1e0f9a8b7c60"


def test_a_batch_reaches_each_apps_log_in_order(tmp_path):
    logs = LogStore(tmp_path)
    store_access_lines(
        logs,
        [
            (WEB, "web", "GET /1 200"),
            (API, "api", "GET /a 200"),
            ("", "", "GET / 404 unknown route"),  # no app: nowhere to log it
            (WEB, "web", "GET /2 200"),
        ],
    )

    web = logs.recent(WEB)
    assert [line.message for line in web] == ["GET /1 200", "GET /2 200"]
    assert {line.source for line in web} == {"RTR/0"}
    assert [line.message for line in logs.recent(API)] == ["GET /a 200"]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [f"{WEB}.jsonl", f"{API}.jsonl"]
    )


def test_watched_apps_response_times_give_a_p95(tmp_path: Path) -> None:
    now = [100.0]
    latencies = Latencies(clock=lambda: now[0])
    watched, other = "a" * 36, "b" * 36
    latencies.watch(watched)
    line = 'h - [t] "GET / HTTP/1.1" 200 1 2 "ua" "c" "s" x_request_id:"r" response_time_ms:{}'
    batch = [(f"{watched}_route", "web", line.format(ms)) for ms in range(1, 101)]
    batch.append((f"{other}_route", "other", line.format(5000)))
    store_access_lines(LogStore(tmp_path / "logs"), batch, latencies=latencies)
    assert latencies.p95(watched) == 96.0
    assert latencies.p95(other) is None  # not watched: its lines are not even read
    now[0] += 5
    assert latencies.p95(watched) is None  # older than the window
