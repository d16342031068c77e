"""The log store: append-only files of lines per app under `$YUN_HOME/logs`.

Staging output, app stdout/stderr, router access lines and platform events all land here, tagged
with a source (`STG`, `APP/PROC/WEB/0`, `RTR`, `API`, `CELL/0`) and a timestamp, so `yun logs`
can show the recent past and follow the live tail from an offset. Lines are JSON objects, except
the router's, which are kept as HAProxy wrote them and read through `rtr.decode`.

An app's log is bounded twice: by size (`max_bytes`, default 32 MiB: the file is set aside as
`.jsonl.1` at half of it, and the one set aside before is dropped) and by age (`max_age`,
default 7 days: older lines are not read, and `prune` deletes the files that hold only those).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from yun.logstore.filters import LogFilter
from yun.logstore.lines import LogLine, decode

__all__ = ["LogFilter", "LogLine", "LogStore"]

MAX_BYTES = 32 * 1024 * 1024
MAX_AGE = 7 * 86400.0
_CHUNK = 1 << 20  # bytes read at a time when reading backwards


def _backwards(path: Path) -> Iterator[list[bytes]]:
    """The whole lines of `path` in chunks from its end: each chunk's lines in order."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        end = handle.seek(0, os.SEEK_END)
        carry = b""  # the end of a line that began before the chunk read last
        first = True
        while end > 0:
            start = max(0, end - _CHUNK)
            handle.seek(start)
            data = handle.read(end - start) + carry
            end = start
            if first:  # a last line still being written is not whole yet
                data, first = data[: data.rfind(b"\n") + 1], False
            if start > 0:
                cut = data.find(b"\n") + 1
                if cut == 0:
                    carry = data
                    continue
                carry, data = data[:cut], data[cut:]
            yield data.splitlines()


class LogStore:
    def __init__(self, root: Path, *, max_bytes: int = MAX_BYTES, max_age: float = MAX_AGE) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.max_age = max_age
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def path(self, app_guid: str) -> Path:
        """The file the app's lines are appended to."""
        return self.root / f"{app_guid}.jsonl"

    def set_aside(self, app_guid: str) -> Path:
        """Where the app's older lines are, once its file reached half of `max_bytes`."""
        return self.root / f"{app_guid}.jsonl.1"

    def append(self, app_guid: str, source: str, message: str, ts: float | None = None) -> None:
        line = LogLine(ts if ts is not None else time.time(), source, message.rstrip("\n"))
        self.append_lines(app_guid, line.encode())

    def append_lines(self, app_guid: str, data: bytes) -> None:
        """Append whole lines in one of the store's formats (the router's records, as they came)."""
        path = self.path(app_guid)
        with self._lock:
            try:
                full = path.stat().st_size > self.max_bytes // 2
            except FileNotFoundError:
                full = False
            if full:
                path.replace(self.set_aside(app_guid))
            with path.open("ab") as out:
                out.write(data)

    def end_offset(self, app_guid: str) -> int:
        path = self.path(app_guid)
        return path.stat().st_size if path.exists() else 0

    def oldest_kept(self) -> float:
        """Lines before this time are past `max_age`: no reader gets them."""
        return time.time() - self.max_age

    def read(
        self, app_guid: str, offset: int = 0, *, most: int | None = None
    ) -> tuple[list[LogLine], int]:
        """Complete lines from `offset` (reading `most` bytes at most); returns them and the
        offset to continue from."""
        path = self.path(app_guid)
        if not path.exists():
            return [], 0
        size = path.stat().st_size
        if offset > size:
            offset = 0
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read(most if most is not None else -1)
        end = data.rfind(b"\n") + 1
        oldest = self.oldest_kept()
        lines = [
            line
            for raw in data[:end].splitlines()
            if (line := decode(raw, app_guid)) and line.ts >= oldest
        ]
        return lines, offset + end

    def recent(
        self, app_guid: str, limit: int = 1000, keep: LogFilter | None = None
    ) -> list[LogLine]:
        """The last `limit` lines `keep` lets through, oldest first, from the file and the one
        set aside before it. Reading stops at the lines older than `keep.since`."""
        since = max(self.oldest_kept(), keep.since if keep and keep.since else 0.0)
        found: list[list[LogLine]] = []
        count = 0
        for path in (self.path(app_guid), self.set_aside(app_guid)):
            for chunk in _backwards(path):
                lines = [line for raw in chunk if (line := decode(raw, app_guid))]
                kept = [line for line in lines if line.ts >= since and (keep is None or keep(line))]
                found.append(kept)
                count += len(kept)
                # Lines arrive a little out of time order (the router writes after the
                # response), so a minute's slack before giving up on older chunks.
                if count >= limit or (lines and max(line.ts for line in lines) < since - 60):
                    return [line for part in reversed(found) for line in part][-limit:]
        return [line for part in reversed(found) for line in part][-limit:]

    def prune(self) -> int:
        """Delete the files that hold only lines past `max_age`; the number deleted."""
        oldest = self.oldest_kept()
        gone = 0
        with self._lock:
            for path in [*self.root.glob("*.jsonl"), *self.root.glob("*.jsonl.1")]:
                try:
                    if path.stat().st_mtime < oldest:
                        path.unlink()
                        gone += 1
                except FileNotFoundError:
                    continue
        return gone

    def delete(self, app_guid: str) -> None:
        with self._lock:
            for path in (self.path(app_guid), self.set_aside(app_guid)):
                path.unlink(missing_ok=True)
