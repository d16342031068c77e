"""Freed memory goes back to the system: what glibc keeps after a burst of allocations (here
50 MiB of 1 KiB objects, with one object allocated after them so the heap's top stays in use
and glibc's own trimming cannot return anything) leaves the process at the next trim."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from yun.server.memory import EVERY, MemoryTrimmer


def _anonymous_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")


def test_a_trim_returns_what_a_burst_of_allocations_freed() -> None:
    trimmer = MemoryTrimmer()
    if trimmer._trim is None:
        pytest.skip("not glibc: nothing to trim")
    pinned: list[bytes] = []

    def burst() -> None:  # in a thread of its own, as the controllers' work is
        objects = [bytes(1024) for _ in range(50 * 1024)]
        pinned.append(bytes(1024))  # above them all in the heap
        objects.clear()

    thread = threading.Thread(target=burst)
    thread.start()
    thread.join()
    before = _anonymous_kib()
    assert trimmer.reconcile("memory").requeue_after == EVERY
    assert before - _anonymous_kib() > 20 * 1024
