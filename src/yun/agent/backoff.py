"""Cloud Foundry's crash-restart schedule as a pure function.

Diego restarts a crashed instance at once for its first few crashes (most crashes are transient),
then waits longer and longer so a crash-looping app does not eat the machine: 30 s, doubling,
capped at 16 minutes. Keeping the schedule pure lets it be checked as a table.
"""

from __future__ import annotations

from yun.settings import Timing


def restart_delay(crash_count: int, timing: Timing) -> float:
    """Seconds to wait before restarting an instance that has now crashed `crash_count` times.

    `crash_count` counts the crash that just happened (1 for the first crash).
    """
    if crash_count <= timing.immediate_restarts:
        return 0.0
    doublings = crash_count - timing.immediate_restarts - 1
    if doublings >= 64:  # 2**64 * anything positive is past any sane cap
        return timing.max_backoff
    return float(min(timing.first_backoff * 2**doublings, timing.max_backoff))
