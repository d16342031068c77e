"""Following an app's log live, for a reader that may be slow.

The store's files are the buffer: an app and the router write to them at their own pace and
never wait for readers. A reader that falls more than `LAG_MAX` bytes behind skips ahead to
the last `LAG_KEEP` bytes and is told how many lines it missed, so a slow client costs neither
the app nor the platform anything (no back-pressure, no growing queue).

A reader holds its file open, as `tail -F` does: when the store sets the file aside, the reader
finishes it and then goes on with the new one, and no other file can take its inode meanwhile.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import BinaryIO

from yun.logstore import LogStore
from yun.logstore.lines import LogLine, decode

LAG_MAX = 1 << 20  # a reader this far behind skips ahead...
LAG_KEEP = 64 << 10  # ...to this much before the end
READ_MOST = 256 << 10  # bytes read per step


def dropped_notice(count: int) -> dict[str, object]:
    """The line a live reader gets where it skipped `count` lines."""
    return {
        "ts": time.time(),
        "source": "LOG",
        "message": f"{count} lines dropped: this reader fell behind the app's output",
        "dropped": count,
    }


def _open(path: Path) -> BinaryIO | None:
    try:
        return path.open("rb")
    except FileNotFoundError:
        return None


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _count_lines(handle: BinaryIO, start: int, end: int) -> int:
    count = 0
    handle.seek(start)
    while start < end and (data := handle.read(min(1 << 20, end - start))):
        count += data.count(b"\n")
        start += len(data)
    return count


def _line_start(handle: BinaryIO, at: int) -> int:
    """The offset of the first line that starts at `at` or after."""
    if at == 0:
        return 0
    handle.seek(at - 1)
    while data := handle.read(4096):
        if (found := data.find(b"\n")) >= 0:
            return handle.tell() - len(data) + found + 1
    return at


class Tail:
    """One reader's place in an app's log: the file it reads, open, and an offset in it."""

    def __init__(
        self,
        logs: LogStore,
        app_guid: str,
        offset: int | None = None,
        *,
        lag_max: int = LAG_MAX,
        lag_keep: int = LAG_KEEP,
    ) -> None:
        self.logs = logs
        self.app_guid = app_guid
        self.lag_max = lag_max
        self.lag_keep = lag_keep
        self._file = _open(logs.path(app_guid))
        size = os.fstat(self._file.fileno()).st_size if self._file else 0
        self.offset = size if offset is None else min(max(0, offset), size)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Tail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self) -> tuple[list[LogLine], int]:
        """The next lines, and how many were skipped since the last read (0 if none)."""
        if self._file is None:
            self._file, self.offset = _open(self.logs.path(self.app_guid)), 0
            if self._file is None:
                return [], 0
        mine = os.fstat(self._file.fileno())
        current = _stat(self.logs.path(self.app_guid))
        if current is not None and current.st_ino == mine.st_ino:
            if current.st_size - self.offset > self.lag_max:
                return self._skip(lost=0)
            return self._step(), 0
        # Set aside since: finish this file, then the one set aside after it, if the store
        # set aside twice (ours is not the newest file, so one set aside that is not ours is
        # newer), then the current one.
        aside = _stat(self.logs.set_aside(self.app_guid))
        between = aside.st_size if aside is not None and aside.st_ino != mine.st_ino else 0
        behind = mine.st_size - self.offset + between + (current.st_size if current else 0)
        if behind > self.lag_max:
            lost = _count_lines(self._file, self.offset, mine.st_size)
            self._next_file(mine.st_ino)
            if between and self._file is not None:  # the file set aside after ours
                lost += _count_lines(self._file, 0, 1 << 62)
                self._next_file(os.fstat(self._file.fileno()).st_ino)
            return self._skip(lost=lost)
        if lines := self._step():
            return lines, 0
        self._next_file(mine.st_ino)
        return (self._step(), 0) if self._file is not None else ([], 0)

    def _next_file(self, finished: int) -> None:
        """Go on from the file of inode `finished`, read to its end: to the file set aside if
        that is not it (so it is newer), else to the current one."""
        self.close()
        aside = _open(self.logs.set_aside(self.app_guid))
        if aside is not None and os.fstat(aside.fileno()).st_ino != finished:
            self._file, self.offset = aside, 0
            return
        if aside is not None:
            aside.close()
        self._file, self.offset = _open(self.logs.path(self.app_guid)), 0

    def _skip(self, *, lost: int) -> tuple[list[LogLine], int]:
        if self._file is None:
            return [], lost
        size = os.fstat(self._file.fileno()).st_size
        start = _line_start(self._file, max(self.offset, size - self.lag_keep))
        lost += _count_lines(self._file, self.offset, start)
        self.offset = start
        return self._step(), lost

    def _step(self) -> list[LogLine]:
        assert self._file is not None
        self._file.seek(self.offset)
        data = self._file.read(READ_MOST)
        end = data.rfind(b"\n") + 1
        self.offset += end
        oldest = self.logs.oldest_kept()
        return [
            line
            for raw in data[:end].splitlines()
            if (line := decode(raw, self.app_guid)) and line.ts >= oldest
        ]
