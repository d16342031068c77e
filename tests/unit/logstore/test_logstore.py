"""The log store: per-app lines (JSON, and the router's records), read back whole."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from yun.logstore import LogFilter, LogStore
from yun.logstore.filters import FilterError, parse_grep, parse_sources
from yun.logstore.tail import Tail

GUID = "0c5e2a4b-7d1f-4c3a-9b8e-6f2d1a0e5c47"
FOREVER = float("inf")  # for lines of fixed, long past times


def test_recent_returns_as_many_lines_as_asked_however_long_they_are(tmp_path: Path) -> None:
    logs = LogStore(tmp_path)
    now = time.time()
    for n in range(300):
        logs.append(GUID, "RTR/0", f"line {n} " + "x" * (40 if n % 2 else 4000), ts=now + n)

    recent = logs.recent(GUID, 100)

    assert [line.message.split()[1] for line in recent] == [str(n) for n in range(200, 300)]
    assert len(logs.recent(GUID, 1000)) == 300  # fewer there than asked: all of them


def test_lines_keep_text_source_and_time(tmp_path: Path) -> None:
    logs = LogStore(tmp_path, max_age=FOREVER)
    logs.append(GUID, "APP/PROC/WEB/0", 'say "héllo" ☃\n', ts=12.5)
    logs.append_lines(GUID, b'{"ts": 13.5, "source": "RTR/0", "ms": 2, "message": "GET /"}\n')

    lines, offset = logs.read(GUID)

    assert [(line.ts, line.source, line.message) for line in lines] == [
        (12.5, "APP/PROC/WEB/0", 'say "héllo" ☃'),
        (13.5, "RTR/0", "GET /"),
    ]
    assert offset == logs.end_offset(GUID)
    assert "☃" in (tmp_path / f"{GUID}.jsonl").read_text(encoding="utf-8")  # kept as written


RECORD = (
    b"yunrtr4 be_" + GUID.encode() + b"_web 1796406201002 12 503 80 216 127.0.0.1:46238 -:-"
    b' <NOSRV> SC POST HTTP/1.0 "h.apps.localhost" "/a b" "ua \\"q\\" \\\\ \\]" "-" "rid-1"\n'
)


def test_router_records_of_the_layout_before_the_trace_id_still_read(tmp_path: Path) -> None:
    logs = LogStore(tmp_path, max_age=FOREVER)
    logs.append_lines(GUID, RECORD)

    [line] = logs.recent(GUID)

    assert (line.ts, line.source) == (1796406201.002, "RTR/0")
    assert line.message == (
        'h.apps.localhost - [2026-12-04T17:43:21.002+0000] "POST /a b HTTP/1.0" 503 80 216'
        ' "ua \\"q\\" \\\\ ]" "127.0.0.1:46238" "-:-" x_forwarded_for:"-" x_request_id:"rid-1"'
        f' response_time_ms:12 app_id:"{GUID}" instance:"-" termination:"SC"'
    )


def test_lines_of_the_older_router_format_and_broken_records_are_read_or_skipped(
    tmp_path: Path,
) -> None:
    logs = LogStore(tmp_path, max_age=FOREVER)
    older = b'{"ts": 13.5, "source": "RTR/0", "ms": 2, "message": "GET /"}\n'
    cut_short = RECORD[:60] + b"\n"
    unclosed = RECORD.replace(b'"rid-1"', b'"rid-1')

    logs.append_lines(GUID, older + cut_short + unclosed + RECORD)

    assert [(line.ts, line.message[:16]) for line in logs.recent(GUID)] == [
        (13.5, "GET /"),
        (1796406201.002, "h.apps.localhost"),
    ]


def app_line(n: int, ts: float, source: str = "APP/PROC/WEB/0") -> tuple[str, str, float]:
    return source, f"line {n}", ts


def messages(lines: list) -> list[str]:
    return [line.message for line in lines]


def test_lines_past_the_age_limit_are_not_read_and_their_files_are_pruned(tmp_path: Path) -> None:
    logs = LogStore(tmp_path, max_age=3600)
    now = time.time()
    logs.append(GUID, "APP/PROC/WEB/0", "two hours ago", ts=now - 7200)
    logs.append(GUID, "APP/PROC/WEB/0", "a minute ago", ts=now - 60)

    assert messages(logs.recent(GUID)) == ["a minute ago"]
    assert messages(logs.read(GUID)[0]) == ["a minute ago"]
    assert logs.prune() == 0  # the file was written a moment ago

    other = "7d2b1a0c-5e4f-4a3b-8c2d-1e0f9a8b7c60"
    logs.append(other, "APP/PROC/WEB/0", "old", ts=now - 7200)
    os.utime(logs.path(other), (now - 7200, now - 7200))  # not written to for two hours
    assert logs.prune() == 1
    assert not logs.path(other).exists() and logs.path(GUID).exists()


def test_size_limit_sets_the_file_aside_once_and_recent_reads_both(tmp_path: Path) -> None:
    logs = LogStore(tmp_path, max_bytes=20_000)
    now = time.time()
    for n in range(300):  # about 100 bytes each: 30 KB, past the 20 KB the two files hold
        logs.append(GUID, "APP/PROC/WEB/0", f"line {n:03d} " + "x" * 40, ts=now + n)

    sizes = [logs.path(GUID).stat().st_size, logs.set_aside(GUID).stat().st_size]
    assert all(size <= 10_000 + 120 for size in sizes), sizes
    recent = logs.recent(GUID, 80)  # more than the newest file holds
    assert [line.message[:8] for line in recent] == [f"line {n:03d}" for n in range(220, 300)]
    assert 80 < len(logs.recent(GUID, 1000)) < 300  # the oldest went with a file set aside


def test_filters_pick_lines_by_source_instance_time_and_pattern(tmp_path: Path) -> None:
    logs = LogStore(tmp_path)
    now = time.time()
    logs.append(GUID, "STG/0", "Installing flask", ts=now - 600)
    logs.append(GUID, "APP/PROC/WEB/0", "ready trace=4bf92f35", ts=now - 5)
    logs.append(GUID, "APP/PROC/WEB/1", "ready", ts=now - 4)
    logs.append(GUID, "CELL/1", "Cell started instance", ts=now - 4)
    served_by_1 = 'h - [x] "GET / HTTP/1.1" 200 instance:"0f8e9a56-1-1" trace_id:"4bf92f35"'
    logs.append(GUID, "RTR/0", served_by_1, ts=now - 3)

    def pick(**given: object) -> list[str]:
        return messages(logs.recent(GUID, 100, LogFilter(**given)))  # type: ignore[arg-type]

    assert pick(sources=frozenset({"STG"})) == ["Installing flask"]
    assert pick(sources=frozenset({"APP", "CELL"}), instance=1) == [
        "ready",
        "Cell started instance",
    ]
    assert pick(instance=1) == ["ready", "Cell started instance", served_by_1]
    assert pick(since=now - 60) == messages(logs.recent(GUID))[1:]
    assert pick(grep=re.compile("4bf92f35")) == ["ready trace=4bf92f35", served_by_1]


@pytest.mark.parametrize(
    ("parse", "text", "field"),
    [
        (parse_sources, "APP,WEB", "source"),
        (parse_sources, ",", "source"),
        (parse_grep, "(", "grep"),
    ],
)
def test_a_wrong_filter_names_its_argument(parse, text: str, field: str) -> None:
    with pytest.raises(FilterError) as raised:
        parse(text)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")


@pytest.mark.parametrize("every", [50, 120], ids=["each-file", "files-set-aside-twice"])
def test_a_reader_that_keeps_up_gets_every_line_across_files_set_aside(
    tmp_path: Path, request: pytest.FixtureRequest, every: int
) -> None:
    logs = LogStore(tmp_path, max_bytes=20_000)
    logs.path(GUID).touch()
    tail = Tail(logs, GUID)
    request.addfinalizer(tail.close)
    now = time.time()
    got: list[str] = []
    for n in range(400):
        logs.append(GUID, "APP/PROC/WEB/0", f"line {n} " + "x" * 40, ts=now)
        if n % every == every - 1:
            while True:
                lines, dropped = tail.read()
                assert dropped == 0
                if not lines:
                    break
                got += messages(lines)
    got += messages(tail.read()[0])

    assert [text.split()[1] for text in got] == [str(n) for n in range(400)]


def test_a_reader_far_behind_skips_ahead_and_is_told_how_many_lines_it_missed(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    logs = LogStore(tmp_path)
    tail = Tail(logs, GUID, lag_max=50_000, lag_keep=5_000)
    request.addfinalizer(tail.close)
    now = time.time()
    for n in range(2000):  # about 100 bytes each: 200 KB behind
        logs.append(GUID, "APP/PROC/WEB/0", f"line {n} " + "x" * 40, ts=now)

    lines, dropped = tail.read()

    assert 0 < len(lines) <= 5_000 // 90
    assert dropped + len(lines) == 2000
    assert lines[-1].message.startswith("line 1999 ")
    assert tail.read() == ([], 0)  # caught up
