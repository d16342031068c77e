"""Gateway options on a route, from the CLI to the router: `rate_limit` lets N requests of a
client through in a window and answers the next with 429 and Retry-After; `deny` shuts a
client out; an empty value takes an option off; a wrong one is refused, naming it."""

from __future__ import annotations

import time

import pytest
from tests.e2e.conftest import EXAMPLES, Platform

pytestmark = pytest.mark.e2e
WINDOW = 10


def test_a_rate_limit_and_a_deny_list_from_the_cli(platform: Platform) -> None:
    platform.cli("push", "gated", "-p", str(EXAMPLES / "hello-static"))
    route = "gated.apps.localhost"
    try:
        platform.wait_for("gated", "Hello")
        said = platform.cli("update-route", route, "-o", f"rate_limit=3/{WINDOW}s").stdout
        assert f"rate_limit=3/{WINDOW}s" in said
        while time.time() % WINDOW > WINDOW - 3:  # all of them within one window
            time.sleep(0.1)
        deadline = time.monotonic() + 10  # the router reloads within moments
        while (answer := platform.get("gated")).status_code != 429:
            assert time.monotonic() < deadline, "the limit never took hold"
        assert 1 <= int(answer.headers["Retry-After"]) <= WINDOW
        platform.cli("update-route", route, "-o", "rate_limit=", "-o", "deny=127.0.0.1")
        deadline = time.monotonic() + 10
        while (answer := platform.get("gated")).status_code != 403:
            assert time.monotonic() < deadline, "the deny list never took hold"
        wrong = platform.cli("update-route", route, "-o", "max_body=lots", check=False)
        assert wrong.returncode != 0 and "max_body" in wrong.stderr
    finally:
        platform.cli("delete", "gated", "-f", check=False)
