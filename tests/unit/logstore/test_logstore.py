"""The log store: per-app JSON lines, read back whole, recent ones counted right."""

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
