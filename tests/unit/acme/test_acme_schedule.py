"""When ACME certificates are renewed and failed orders tried again."""

from __future__ import annotations

from yun.acme import renew_at, retry_delay

DAY = 86400.0


def test_a_90_day_certificate_is_renewed_30_days_before_it_expires() -> None:
    assert renew_at(0.0, 90 * DAY) == 60 * DAY


def test_a_short_lived_certificate_is_renewed_with_a_third_of_its_life_left() -> None:
    assert renew_at(0.0, 6 * DAY) == 4 * DAY
    assert renew_at(100.0, 145.0) == 130.0


def test_failed_orders_wait_longer_each_time_up_to_six_hours() -> None:
    waits = [retry_delay(n) for n in range(1, 9)]
    assert waits[:3] == [60.0, 300.0, 900.0]
    assert waits == sorted(waits)
    assert waits[-1] == waits[-2] == 6 * 3600.0
    # Let's Encrypt allows 5 failed validations per host and hour: at most 4 in the first hour.
    assert sum(1 for n in range(1, 6) if sum(retry_delay(k) for k in range(1, n)) < 3600) == 4
