"""Scale to zero: an idle app has no instances, and its first request waits for one, then gets
its answer (200, not an error)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from tests.e2e.conftest import EXAMPLES, Platform, launch

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """Its own server: the shared one is stopped by the tests of `yun server stop`."""
    with launch(tmp_path_factory.mktemp("zero")) as plat:
        yield plat


def web_instances(platform: Platform, name: str) -> tuple[int, int]:
    app = json.loads(platform.cli("app", name, "--json").stdout)
    web = next(p for p in app["processes"] if p["type"] == "web")
    return int(web["instances"]), int(web["running"])


def test_a_scaled_to_zero_app_answers_its_first_request(platform: Platform) -> None:
    name = "sleepy"
    platform.cli("push", name, "-p", str(EXAMPLES / "hello-python"))
    platform.wait_for(name, "Hello from Yun")
    platform.cli("autoscale", name, "--min", "0", "--max", "2", "--rps", "50", "--idle", "2")
    deadline = time.monotonic() + 60
    while web_instances(platform, name) != (0, 0):
        assert time.monotonic() < deadline, "the idle app never went to zero"
        time.sleep(0.5)
    answers: list[httpx.Response] = []

    def ask() -> None:
        answers.append(platform.get(name, timeout=90))

    callers = [threading.Thread(target=ask) for _ in range(3)]  # the first few requests
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=120)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all("Hello from Yun" in a.text for a in answers)
    assert web_instances(platform, name)[0] == 1
    events = json.loads(platform.cli("events", name, "--json").stdout)
    reasons = [e["data"].get("reason", "") for e in events if e["type"] == "app.autoscale"]
    assert any("scaled to zero" in r for r in reasons)
    assert any("a request arrived" in r for r in reasons)
    platform.cli("autoscale", name, "--off")
