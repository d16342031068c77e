"""The agent's waker: set from another thread, or woken once by a watched descriptor."""

from __future__ import annotations

import os
import select
import threading

from pytest import MonkeyPatch

from yun.agent.waking import Waker


def test_set_wakes_a_wait_and_clear_lets_the_next_one_sleep() -> None:
    waker = Waker()
    threading.Timer(0.05, waker.set).start()
    assert waker.wait(10)
    waker.clear()
    assert not waker.wait(0.01)


def test_a_watched_descriptor_wakes_once_until_watched_again() -> None:
    waker = Waker()
    read, write = os.pipe()
    try:
        assert waker.watch(read)
        assert not waker.wait(0.01)
        os.write(write, b"x")  # still readable after: only the watch's one shot ends
        assert waker.wait(10)
        assert not waker.wait(0.01)
        assert waker.watch(read)
        assert waker.wait(10)
    finally:
        os.close(read)
        os.close(write)


def test_a_closed_descriptor_cannot_be_watched() -> None:
    waker = Waker()  # first: its own descriptors must not take the closed number
    read, write = os.pipe()
    os.close(read)
    os.close(write)
    assert not waker.watch(read)


def test_a_pidfd_wakes_when_its_process_exits() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(3)
    pidfd = os.pidfd_open(pid)
    try:
        waker = Waker()
        assert waker.watch(pidfd)
        assert waker.wait(10)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 3
    finally:
        os.close(pidfd)


def test_without_epoll_it_is_an_event_that_watches_nothing(monkeypatch: MonkeyPatch) -> None:
    monkeypatch.delattr(select, "epoll")  # as on a system without it
    waker = Waker()
    read, write = os.pipe()
    try:
        assert not waker.watch(read)  # the agent then keeps its half-second passes
        threading.Timer(0.05, waker.set).start()
        assert waker.wait(10)
        waker.clear()
        assert not waker.wait(0.01)
    finally:
        os.close(read)
        os.close(write)
