"""Whether a cluster answers, and when to ask it again: a cluster that stopped answering is
asked again after 2, 4, 8 … up to 60 seconds rather than on every pass, and only the change
(unreachable, reachable again) is worth a log line; `yun clusters` shows the state."""

from __future__ import annotations

from dataclasses import dataclass

BACKOFF_MAX = 60.0


@dataclass
class Reach:
    reachable: bool | None = None  # None: not asked yet
    reason: str = ""
    since: float = 0.0  # when it became what it is
    failures: int = 0
    next_try: float = 0.0

    def due(self, now: float) -> bool:
        """Whether to ask the cluster now (always, unless it stopped answering)."""
        return self.reachable is not False or now >= self.next_try

    def failed(self, reason: str, now: float) -> bool:
        """It did not answer; True when that is news."""
        news = self.reachable is not False
        self.failures += 1
        self.next_try = now + min(BACKOFF_MAX, 2.0**self.failures)
        if news:
            self.since = now
        self.reachable, self.reason = False, reason
        return news

    def answered(self, now: float) -> bool:
        """It answered; True when that is news (it did not before)."""
        news = self.reachable is not True
        if news:
            self.since = now
        self.reachable, self.reason, self.failures, self.next_try = True, "", 0, 0.0
        return news
