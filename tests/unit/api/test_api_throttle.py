"""The login throttle's arithmetic, on a clock the test moves."""

from __future__ import annotations

from yun.api.throttle import PER_ADDRESS, PER_PAIR, WINDOW, LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_pair_waits_until_its_oldest_failure_leaves_the_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    for _ in range(PER_PAIR - 1):
        throttle.failed("admin", "10.0.0.1")
        clock.now += 10
    assert throttle.wait("admin", "10.0.0.1") == 0
    throttle.failed("admin", "10.0.0.1")
    assert throttle.wait("admin", "10.0.0.1") == WINDOW - 10 * (PER_PAIR - 1)
    assert throttle.wait("admin", "10.0.0.2") == 0  # the same user elsewhere
    assert throttle.wait("alice", "10.0.0.1") == 0  # another user from there
    clock.now += WINDOW
    assert throttle.wait("admin", "10.0.0.1") == 0


def test_an_address_guessing_many_users_is_stopped_and_a_good_login_clears_its_pair() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    for i in range(PER_ADDRESS):
        throttle.failed(f"user{i}", "10.0.0.9")
    assert throttle.wait("someone", "10.0.0.9") > 0
    assert throttle.wait("someone", "10.0.0.8") == 0
    for _ in range(PER_PAIR):
        throttle.failed("bob", "10.0.0.3")
    throttle.succeeded("bob", "10.0.0.3")
    assert throttle.wait("bob", "10.0.0.3") == 0
