"""Giving freed memory back to the system.

CPython hands objects larger than 512 bytes (a router's statistics, a rendered config, rows
read for a pass) to the C library's allocator, which keeps what they freed in each thread's
heap for the next allocation. With a dozen threads, an idle `yun server` supervising hundreds
of instances held a fifth more resident memory than it used. `MemoryTrimmer` asks glibc to
return its free pages (`malloc_trim`) every `EVERY` seconds; elsewhere it does nothing.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

from yun.controllers.runtime.managing import Result

EVERY = 10.0


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim  # glibc's; absent from other C libraries
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


class MemoryTrimmer:
    prefix = "memory"

    def __init__(self) -> None:
        self._trim = _malloc_trim()

    def reconcile(self, key: str) -> Result:
        if self._trim is None:
            return Result()  # nothing to do with this C library: no need to come back
        self._trim(0)
        return Result(requeue_after=EVERY)
