"""When an ACME certificate is renewed, and when a failed order is tried again."""

from __future__ import annotations

RENEW_BEFORE = 30 * 86400.0  # renew 30 days before expiry, as certbot does…
RENEW_FRACTION = 1 / 3  # …or, for short-lived certificates, with a third of their life left
RETRY_DELAYS = (60.0, 300.0, 900.0, 3600.0, 3 * 3600.0, 6 * 3600.0)
"""Seconds before the next try after 1, 2, 3… failed orders in a row: a domain that fails keeps
within Let's Encrypt's limit of five failed validations per host and hour."""


def renew_at(not_before: float, not_after: float) -> float:
    """The time (epoch seconds) to order a certificate valid from `not_before` to `not_after`
    again."""
    lifetime = max(0.0, not_after - not_before)
    return not_after - min(RENEW_BEFORE, lifetime * RENEW_FRACTION)


def retry_delay(failures: int) -> float:
    """Seconds to wait after `failures` (≥ 1) failed orders in a row."""
    return RETRY_DELAYS[min(max(failures, 1), len(RETRY_DELAYS)) - 1]
