"""Router access lines land in their apps' logs, a chunk at a time, in order."""

from __future__ import annotations

from pathlib import Path

from yun.logstore import LogStore
from yun.server.metrics import Latencies
from yun.server.platform import store_access_lines

WEB = "0f8e9a56-1c1e-4c53-9d1e-3a3a2b1c0d01"
API = "7d2b1a0c-5e4f-4a3b-8c2d-1e0f9a8b7c60"


def line(message: str, ms: int = 1) -> bytes:
    """An access line as HAProxy formats it for the log store (router.accesslog.LOG_FORMAT)."""
    head = '{"ts": 1796227139264e-3, "source": "RTR/0"'
    return f'{head}, "ms": {ms}, "message": "{message}"}}\n'.encode()


def test_each_apps_lines_reach_its_log_in_order(tmp_path: Path) -> None:
    logs = LogStore(tmp_path)

    store_access_lines(logs, {WEB: line("GET /1 200") + line("GET /2 200"), API: line("GET /a")})
    store_access_lines(logs, {WEB: line("GET /3 200")})

    web = logs.recent(WEB)
    assert [entry.message for entry in web] == ["GET /1 200", "GET /2 200", "GET /3 200"]
    assert {(entry.source, entry.ts) for entry in web} == {("RTR/0", 1796227139.264)}
    assert [entry.message for entry in logs.recent(API)] == ["GET /a"]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [f"{WEB}.jsonl", f"{API}.jsonl"]
    )


def test_watched_apps_response_times_give_a_p95(tmp_path: Path) -> None:
    now = [100.0]
    latencies = Latencies(clock=lambda: now[0])
    latencies.watch(WEB)
    # A message that names a response time of its own does not count: only the "ms" key does.
    lines = b"".join(line('h \\"GET /\\" \\", \\"ms\\": 9999, \\"', ms) for ms in range(1, 101))
    aborted = line("client went away", -1)

    store_access_lines(
        LogStore(tmp_path / "logs"), {WEB: lines + aborted, API: line("x", 5000)}, latencies
    )

    assert latencies.p95(WEB) == 96.0
    assert latencies.p95(API) is None  # not watched: its lines are not even read
    now[0] += 5
    assert latencies.p95(WEB) is None  # older than the window
