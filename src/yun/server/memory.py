"""Giving freed memory back to the system.

CPython hands objects larger than 512 bytes (a router's statistics, a rendered config, rows
read for a pass) to the C library's allocator, which keeps what they freed in each thread's
heap for the next allocation. With a dozen threads, an idle `yun server` supervising hundreds
of instances held a fifth more resident memory than it used. `MemoryTrimmer` asks glibc to
return its free pages (`malloc_trim`) every `EVERY` seconds; elsewhere it does nothing.

Trimming gives back whole free pages only. A heap of its own per thread (glibc's arenas) kept
pages of scattered live objects in each: one more thread in the server (the live configuration
endpoint's) held 20 MiB more at rest, whichever thread's heap it was. `one_heap` makes every
thread allocate from the main heap; the threads mostly hold the GIL while they allocate, so
they seldom wait for each other there.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

from yun.controllers.runtime.managing import Result

EVERY = 10.0
M_ARENA_MAX = -8  # glibc's mallopt parameter: how many heaps threads may spread over


def one_heap() -> bool:
    """Every thread started from now on allocates from the main heap (glibc only; True when
    it took)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, 1))


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
