"""Failed logins slow the next ones down: per user and client address, per address, per user.

Counts live in the server's memory over a sliding window (a restart forgets them). A pair
(user, address) that failed `PER_PAIR` times in the window must wait until its oldest failure
leaves it; so must an address that failed `PER_ADDRESS` times whatever the users, and a user
that failed `PER_USER` times whatever the addresses (someone guessing from many places). A
good login clears its pair, so the owner of an account under attack from elsewhere still gets
in from their own address.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW = 15 * 60.0
PER_PAIR = 5
PER_ADDRESS = 20
PER_USER = 100


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def wait(self, user: str, address: str) -> int:
        """Seconds this login must wait before it is tried (0: go ahead)."""
        now = self._clock()
        with self._lock:
            waits = [
                self._wait(("pair", f"{user}\0{address}"), PER_PAIR, now),
                self._wait(("address", address), PER_ADDRESS, now),
                self._wait(("user", user), PER_USER, now),
            ]
        return max(waits)

    def failed(self, user: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            for key in (("pair", f"{user}\0{address}"), ("address", address), ("user", user)):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, user: str, address: str) -> None:
        with self._lock:
            self._failures.pop(("pair", f"{user}\0{address}"), None)

    def _wait(self, key: tuple[str, str], limit: int, now: float) -> int:
        times = self._failures.get(key)
        if not times:
            return 0
        while times and times[0] <= now - WINDOW:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0
        if len(times) < limit:
            return 0
        # Wait until enough failures leave the window to bring the count under the limit.
        return max(1, math.ceil(times[len(times) - limit] + WINDOW - now))
