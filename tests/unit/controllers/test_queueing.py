"""The work queue: de-duplication, no key held twice, delayed keys, dirty re-queue."""

from __future__ import annotations

from yun.controllers.runtime.queueing import WorkQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_duplicate_keys_are_queued_once() -> None:
    queue = WorkQueue()
    queue.add("routes")
    queue.add("routes")
    assert queue.get(0.01) == "routes"
    assert queue.get(0.01) is None


def test_key_added_while_processing_comes_back_after_done() -> None:
    queue = WorkQueue()
    queue.add("instances")
    assert queue.get(0.01) == "instances"
    queue.add("instances")
    assert queue.get(0.01) is None  # never handed to a second worker at once
    queue.done("instances")
    assert queue.get(0.01) == "instances"


def test_delayed_key_waits_for_its_time() -> None:
    clock = FakeClock()
    queue = WorkQueue(clock=clock)
    queue.add("build:x", delay=5)
    assert queue.get(0) is None
    clock.now += 5
    assert queue.get(0) == "build:x"
