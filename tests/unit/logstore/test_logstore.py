"""The log store: per-app lines (JSON, and the router's records), read back whole."""

from __future__ import annotations

from pathlib import Path

from yun.logstore import LogStore

GUID = "0c5e2a4b-7d1f-4c3a-9b8e-6f2d1a0e5c47"


def test_recent_returns_as_many_lines_as_asked_however_long_they_are(tmp_path: Path) -> None:
    logs = LogStore(tmp_path)
    for n in range(300):
        logs.append(GUID, "RTR/0", f"line {n} " + "x" * (40 if n % 2 else 4000), ts=float(n))

    recent = logs.recent(GUID, 100)

    assert [line.message.split()[1] for line in recent] == [str(n) for n in range(200, 300)]
    assert len(logs.recent(GUID, 1000)) == 300  # fewer there than asked: all of them


def test_lines_keep_text_source_and_time(tmp_path: Path) -> None:
    logs = LogStore(tmp_path)
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


def test_router_records_read_as_cloud_foundry_rtr_lines(tmp_path: Path) -> None:
    logs = LogStore(tmp_path)
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
    logs = LogStore(tmp_path)
    older = b'{"ts": 13.5, "source": "RTR/0", "ms": 2, "message": "GET /"}\n'
    cut_short = RECORD[:60] + b"\n"
    unclosed = RECORD.replace(b'"rid-1"', b'"rid-1')

    logs.append_lines(GUID, older + cut_short + unclosed + RECORD)

    assert [(line.ts, line.message[:16]) for line in logs.recent(GUID)] == [
        (13.5, "GET /"),
        (1796406201.002, "h.apps.localhost"),
    ]
