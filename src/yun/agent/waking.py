"""What the agent's thread sleeps on between passes: a `set()` from any thread (a new desired
set, a start that returned, a stop that finished), or an instance's process exiting.

An exit is seen through a file descriptor the driver hands over (`Driver.exit_fd`: a pidfd,
which becomes readable when its process ends), watched once: the pass it wakes sees the
instance dead and lets go of it. So a crash is handled at once without a pass every half
second asking each instance whether it still runs.

`set` writes to a pipe. Watching needs Linux's epoll; elsewhere `watch` says no and the agent
keeps its half-second passes.
"""

from __future__ import annotations

import contextlib
import os
import select
import weakref


class Waker:
    """An event (`set`, `clear`, `wait`) that also fires when a watched descriptor is readable."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        if self._epoll is not None:
            self._epoll.register(self._read, select.EPOLLIN)
        weakref.finalize(self, _close, self._read, self._write, self._epoll)

    def set(self) -> None:
        with contextlib.suppress(BlockingIOError):  # full: it is set already
            os.write(self._write, b"!")

    def clear(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 4096):
                pass

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds, less when set or a watched descriptor is readable;
        whether either happened."""
        timeout = max(timeout, 0.0)
        if self._epoll is None:
            return bool(select.select([self._read], [], [], timeout)[0])
        return bool(self._epoll.poll(timeout))

    def watch(self, fd: int) -> bool:
        """Wake once when `fd` becomes readable; False when it cannot be watched (closed, or
        no epoll here). The watch ends by itself when the owner closes `fd`."""
        if self._epoll is None:
            return False
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


def _close(read: int, write: int, epoll: select.epoll | None) -> None:
    if epoll is not None:
        epoll.close()
    os.close(read)
    os.close(write)
