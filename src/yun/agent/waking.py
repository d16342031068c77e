"""What the agent's thread sleeps on between passes: a `set()` from any thread (a new desired
set, a start that returned, a stop that finished), or an instance's process exiting.

An exit is seen through a file descriptor the driver hands over (`Driver.exit_fd`: a pidfd,
which becomes readable when its process ends), watched once: the pass it wakes sees the
instance dead and lets go of it. So a crash is handled at once without a pass every half
second asking each instance whether it still runs.
"""

from __future__ import annotations

import contextlib
import os
import select
import weakref


class Waker:
    """An event (`set`, `clear`, `wait`) that also fires when a watched descriptor is readable."""

    def __init__(self) -> None:
        self._eventfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._epoll = select.epoll()
        self._epoll.register(self._eventfd, select.EPOLLIN)
        weakref.finalize(self, _close, self._eventfd, self._epoll)

    def set(self) -> None:
        os.eventfd_write(self._eventfd, 1)

    def clear(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self._eventfd)

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds, less when set or a watched descriptor is readable;
        whether either happened."""
        while True:
            try:
                return bool(self._epoll.poll(max(timeout, 0.0)))
            except InterruptedError:  # pragma: no cover - Python retries EINTR itself
                continue

    def watch(self, fd: int) -> bool:
        """Wake once when `fd` becomes readable; False when it cannot be watched (closed).

        The watch ends by itself when the owner closes `fd`."""
        mask = select.EPOLLIN | select.EPOLLONESHOT
        try:
            self._epoll.register(fd, mask)
        except FileExistsError:
            try:
                self._epoll.modify(fd, mask)  # fired once already: arm it again
            except OSError:
                return False
        except OSError:
            return False
        return True


def _close(eventfd: int, epoll: select.epoll) -> None:
    epoll.close()
    os.close(eventfd)
