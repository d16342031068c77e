"""The log store: one append-only file of lines per app under `$YUN_HOME/logs`.

Staging output, app stdout/stderr, router access lines and platform events all land here, tagged
with a source (`STG`, `APP/PROC/WEB/0`, `RTR`, `API`, `CELL/0`) and a timestamp, so `yun logs`
can show the recent past and follow the live tail from an offset. Lines are JSON objects, except
the router's, which are kept as HAProxy wrote them and read through `rtr.decode`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from yun.logstore import rtr

MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class LogLine:
    ts: float
    source: str
    message: str

    def to_dict(self) -> dict[str, object]:
        return {"ts": self.ts, "source": self.source, "message": self.message}


def _decode(raw: bytes, app_guid: str) -> LogLine | None:
    if rtr.is_record(raw):
        record = rtr.decode(raw, app_guid)
        return LogLine(*record) if record else None
    try:
        item = json.loads(raw)
        return LogLine(float(item["ts"]), str(item["source"]), str(item["message"]))
    except (ValueError, KeyError, TypeError):
        return None


class LogStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _file(self, app_guid: str) -> Path:
        return self.root / f"{app_guid}.jsonl"

    def append(self, app_guid: str, source: str, message: str, ts: float | None = None) -> None:
        line = LogLine(ts if ts is not None else time.time(), source, message.rstrip("\n"))
        self.append_lines(
            app_guid, (json.dumps(line.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
        )

    def append_lines(self, app_guid: str, data: bytes) -> None:
        """Append whole lines in one of the store's formats (the router's records, as they came)."""
        path = self._file(app_guid)
        with self._lock:
            if path.exists() and path.stat().st_size > MAX_BYTES:
                path.replace(path.with_suffix(".jsonl.1"))
            with path.open("ab") as out:
                out.write(data)

    def end_offset(self, app_guid: str) -> int:
        path = self._file(app_guid)
        return path.stat().st_size if path.exists() else 0

    def read(self, app_guid: str, offset: int = 0) -> tuple[list[LogLine], int]:
        """Complete lines from `offset`; returns them and the offset to continue from."""
        path = self._file(app_guid)
        if not path.exists():
            return [], 0
        size = path.stat().st_size
        if offset > size:
            offset = 0
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1
        lines = [line for raw in data[:end].splitlines() if (line := _decode(raw, app_guid))]
        return lines, offset + end

    def recent(self, app_guid: str, limit: int = 1000) -> list[LogLine]:
        path = self._file(app_guid)
        if not path.exists():
            return []
        size = path.stat().st_size
        window = limit * 512  # a guess at the bytes `limit` lines take, doubled until they fit
        while True:
            offset = max(0, size - window)
            lines, _ = self.read(app_guid, offset)
            if offset:
                lines = lines[1:]  # the window may open in the middle of a line
            if len(lines) >= limit or not offset:
                return lines[-limit:]
            window *= 2

    def follow(
        self, app_guid: str, offset: int, *, stop_after: float = 3600.0, poll: float = 0.2
    ) -> Iterator[LogLine]:
        deadline = time.monotonic() + stop_after
        while time.monotonic() < deadline:
            lines, offset = self.read(app_guid, offset)
            yield from lines
            if not lines:
                time.sleep(poll)

    def delete(self, app_guid: str) -> None:
        with self._lock:
            for path in (self._file(app_guid), self._file(app_guid).with_suffix(".jsonl.1")):
                path.unlink(missing_ok=True)
