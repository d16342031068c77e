"""Linux inotify, as much of it as following files needs: watch a file, learn which watched
files changed. Reached through libc with ctypes (the standard library has no binding), so a
reader can sleep until an instance writes instead of asking every file every tenth of a second.

`Watches.open()` is None where inotify is not to be had; callers then poll.
"""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

IN_MODIFY = 0x00000002  # a write, and a truncation
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (a name of len bytes follows)
_MASK = IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF


class Watches:
    """One inotify instance: `add` a file, `remove` its watch, `changed` reads what happened."""

    def __init__(self, fd: int, libc: ctypes.CDLL) -> None:
        self._fd = fd
        self._libc = libc

    @classmethod
    def open(cls) -> Watches | None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)  # the C library the interpreter runs on
            fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        except (OSError, AttributeError):
            return None
        return cls(fd, libc) if fd >= 0 else None

    def fileno(self) -> int:
        return self._fd

    def add(self, path: Path) -> int | None:
        """Watch `path` for writes (and for its going away); its watch descriptor, or None
        when it cannot be watched (missing, or the user's watch limit reached)."""
        wd = int(self._libc.inotify_add_watch(self._fd, os.fsencode(path), _MASK))
        return wd if wd >= 0 else None

    def remove(self, wd: int) -> None:
        self._libc.inotify_rm_watch(self._fd, wd)  # an already gone watch answers EINVAL

    def changed(self) -> set[int]:
        """Watch descriptors with events since the last call (none when nothing happened)."""
        found: set[int] = set()
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                return found
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, _mask, _cookie, length = _EVENT.unpack_from(data, offset)
                found.add(wd)
                offset += _EVENT.size + length

    def close(self) -> None:
        os.close(self._fd)
