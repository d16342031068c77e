"""The gateway options as users write them: rates, sizes and address lists, and the router
policy the route controller makes of them."""

from __future__ import annotations

import pytest

from yun.controllers.routing import policy_of
from yun.gateway import (
    parse_addresses,
    parse_breaker,
    parse_origins,
    parse_rate,
    parse_retries,
    parse_service_url,
    parse_size,
    rate_text,
)


def test_rates_sizes_and_addresses_are_read() -> None:
    assert parse_rate("100/1s") == (100, 1)
    assert parse_rate("1000/m") == (1000, 60)
    assert parse_rate(" 20 / 10s ") == (20, 10)
    assert parse_size("512k") == 512 << 10 and parse_size("10M") == 10 << 20
    assert parse_size("2048") == 2048
    assert parse_addresses("10.0.0.1, 192.0.2.0/24,") == ("10.0.0.1/32", "192.0.2.0/24")
    for wrong in ("100", "100/0s", "0/1s", "x/1s", "5/2d"):
        with pytest.raises(ValueError):
            parse_rate(wrong)
    for wrong in ("0", "big", "1t"):
        with pytest.raises(ValueError):
            parse_size(wrong)
    for wrong in ("", "10.0.0.300", "host.example"):
        with pytest.raises(ValueError):
            parse_addresses(wrong)


def test_the_route_controller_turns_options_into_the_routers_policy() -> None:
    policy = policy_of({"rate_limit": "5/10s", "max_body": "1k", "deny": "10.0.0.0/8"})
    assert (policy.rate_limit, policy.rate_window, policy.max_body) == (5, 10, 1024)
    assert policy.deny == ("10.0.0.0/8",) and policy.allow == ()
    assert policy_of({}).rate_limit == 0


def test_circuit_breakers_and_retries_as_users_write_them() -> None:
    assert parse_breaker("5") == (5, 30)
    assert parse_breaker("5/2m") == (5, 120)
    assert parse_breaker(" 3 / 10s ") == (3, 10)
    for wrong in ("0", "five", "5/", "5/2d", "5/0s", "101"):
        with pytest.raises(ValueError):
            parse_breaker(wrong)
    assert parse_retries("0") == 0 and parse_retries("10") == 10
    with pytest.raises(ValueError, match="0 to 10"):
        parse_retries("11")


def test_the_route_controller_reads_breakers_and_retries() -> None:
    policy = policy_of({"circuit_breaker": "4/15s", "retries": "0"})
    assert (policy.breaker_errors, policy.breaker_cooldown, policy.retries) == (4, 15, 0)
    assert policy_of({}).retries is None and policy_of({}).breaker_errors == 0


def test_cors_origins_as_users_write_them() -> None:
    assert parse_origins("*") == ("*",)
    assert parse_origins("https://shop.example.com/, http://localhost:3000") == (
        "https://shop.example.com",
        "http://localhost:3000",
    )
    for wrong in ("shop.example.com", "https://a.example/path", "*, https://a.example", " , "):
        with pytest.raises(ValueError):
            parse_origins(wrong)


def test_route_service_urls_as_users_write_them() -> None:
    assert parse_service_url(" https://gate.apps.localhost/check ") == (
        "https://gate.apps.localhost/check"
    )
    assert parse_service_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    for wrong in ("gate.apps.localhost", "ftp://gate", "https://gate/a b", "https://gate/?q=1"):
        with pytest.raises(ValueError):
            parse_service_url(wrong)
    assert policy_of({"route_service": "https://gate.example.com"}).route_service


def test_periods_are_shown_as_users_write_them() -> None:
    assert [rate_text(5, w) for w in (1, 10, 60, 90, 3600, 86400)] == [
        "5/1s",
        "5/10s",
        "5/1m",
        "5/90s",
        "5/1h",
        "5/1d",
    ]
