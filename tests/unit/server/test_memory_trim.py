"""Freed memory goes back to the system: what glibc keeps after a burst of allocations (here
50 MiB of 1 KiB objects, with one object allocated after them so the heap's top stays in use
and glibc's own trimming cannot return anything) leaves the process at the next trim."""

from __future__ import annotations

import subprocess
import sys
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


PROBE = """
import sys, threading
from yun.server.memory import one_heap

def heap_kib():
    lines = open("/proc/self/smaps").read().splitlines()
    at = next(i for i, line in enumerate(lines) if line.endswith("[heap]"))
    return int(next(l for l in lines[at:] if l.startswith("Rss:")).split()[1])

if sys.argv[1] == "one":
    assert one_heap()
before = heap_kib()
kept = []
thread = threading.Thread(target=lambda: kept.extend(bytes(1024) for _ in range(20 * 1024)))
thread.start()
thread.join()
print(heap_kib() - before)
"""


@pytest.mark.parametrize(("mode", "grows"), [("one", True), ("default", False)])
def test_with_one_heap_a_thread_allocates_from_the_main_heap(mode: str, grows: bool) -> None:
    if MemoryTrimmer()._trim is None:
        pytest.skip("not glibc")
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    grown = int(done.stdout)  # KiB the main heap grew by while a thread kept 20 MiB
    assert (grown > 15 * 1024) is grows, grown
