"""Router access lines land in their apps' logs, a chunk at a time, in order."""

from __future__ import annotations

from pathlib import Path

from yun.logstore import LogLine, LogStore
from yun.server.metrics import Latencies
from yun.server.platform import store_access_lines

WEB = "0f8e9a56-1c1e-4c53-9d1e-3a3a2b1c0d01"
API = "7d2b1a0c-5e4f-4a3b-8c2d-1e0f9a8b7c60"


def record(guid: str, path: str, ms: int = 1, user_agent: str = "curl/8") -> bytes:
    """An access record of app `guid` as HAProxy writes it (router.accesslog.LOG_FORMAT)."""
    return (
        f"yunrtr6 be_{guid}_web 1796227139264 {ms} 200 80 120 127.0.0.1:5000 127.0.0.1:6000"
        f' idx-0 -- GET HTTP/1.1 - "h.apps.localhost" "{path}" "{user_agent}" "" "r-1" ""\n'
    ).encode()


def request_line(entry: LogLine) -> str:
    return entry.message.split('"')[1]


def test_each_apps_lines_reach_its_log_in_order(tmp_path: Path) -> None:
    logs = LogStore(tmp_path)

    store_access_lines(logs, {WEB: record(WEB, "/1") + record(WEB, "/2"), API: record(API, "/a")})
    store_access_lines(logs, {WEB: record(WEB, "/3")})

    web = logs.recent(WEB)
    assert [request_line(entry) for entry in web] == [f"GET /{n} HTTP/1.1" for n in (1, 2, 3)]
    assert {(entry.source, entry.ts) for entry in web} == {("RTR/0", 1796227139.264)}
    assert [request_line(entry) for entry in logs.recent(API)] == ["GET /a HTTP/1.1"]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [f"{WEB}.jsonl", f"{API}.jsonl"]
    )


def test_watched_apps_response_times_give_a_p95(tmp_path: Path) -> None:
    now = [100.0]
    latencies = Latencies(clock=lambda: now[0])
    latencies.watch(WEB)
    # Client values that look like a record's start do not count: only HAProxy's own field does.
    fake = "yunrtr6 be_x 1 9999 "
    lines = b"".join(record(WEB, fake, ms, user_agent=fake) for ms in range(1, 101))
    aborted = record(WEB, "/gone", -1)

    store_access_lines(
        LogStore(tmp_path / "logs"), {WEB: lines + aborted, API: record(API, "/", 5000)}, latencies
    )

    assert latencies.p95(WEB) == 96.0
    assert latencies.p95(API) is None  # not watched: its lines are not even read
    now[0] += 5
    assert latencies.p95(WEB) is None  # older than the window
