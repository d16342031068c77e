"""Metrics as an operator and a developer read them: Prometheus' scrape of `/metrics`, an app's
series through the API, and `yun top`."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.e2e.conftest import YUN, Platform, push_observed

pytestmark = pytest.mark.e2e

NAME = "metered"


@pytest.fixture(scope="module")
def metered(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> str:
    push_observed(platform, tmp_path_factory.mktemp("metered"), NAME)
    return NAME


def credential(platform: Platform) -> str:
    return (platform.home / "metrics-token").read_text().strip()


def token(platform: Platform) -> str:
    platform.cli("apps")  # refreshes the CLI's access token if it ran out
    config = json.loads((Path(platform.env["YUN_CONFIG_DIR"]) / "config.json").read_text())
    return str(config["token"])


def scrape(platform: Platform, bearer: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer or credential(platform)}"}
    return httpx.get(f"{platform.api_url}/metrics", headers=headers, timeout=10)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample by (name, sorted labels), read with prometheus_client's own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    found = [
        v for (n, have), v in samples.items() if n == name and set(labels.items()) <= set(have)
    ]
    return max(found) if found else None


def wait_scrape(platform: Platform, ok: Callable[[Samples], bool], timeout: float = 40) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        samples = parse(scrape(platform).text)
        if ok(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(1)


WEB_0 = {"org": "main", "space": "dev", "app": NAME, "process": "web", "instance": "0"}


def test_scrape_carries_each_apps_series_with_its_labels_after_traffic(
    platform: Platform, metered: str
) -> None:
    for _ in range(40):
        assert platform.get(metered, "/counted").status_code == 200

    def counted(samples: Samples) -> bool:
        answered = value(samples, "yun_app_requests_total", app=metered, code_class="2xx")
        running = value(samples, "yun_app_instances_running", app=metered)
        return answered is not None and answered >= 40 and running == 1

    samples = wait_scrape(platform, counted)

    assert counted(samples), sorted(k for k in samples if k[0].startswith("yun_app"))
    assert value(samples, "yun_app_requests_total", app=metered, code_class="5xx") == 0
    memory = value(samples, "yun_instance_memory_bytes", **WEB_0)
    assert memory is not None and 0 < memory < 128 * 2**20
    assert value(samples, "yun_instance_memory_limit_bytes", **WEB_0) == 128 * 2**20
    assert value(samples, "yun_app_instances_running", app=metered, org="main") == 1
    assert value(samples, "yun_instance_restarts_total", **WEB_0) == 0
    # The platform's own series, for the metrics credential and admins.
    assert value(samples, "yun_reconcile_duration_seconds_count", controller="instances")
    assert value(samples, "yun_api_request_duration_seconds_count", route="/v3/apps/{guid}")
    assert value(samples, "yun_staging_duration_seconds_count", outcome="staged")


def test_cpu_rises_for_an_app_that_burns_cpu(platform: Platform, metered: str) -> None:
    def cpu(samples: Samples) -> float:
        return value(samples, "yun_instance_cpu_percent", **WEB_0) or 0.0

    quiet = cpu(wait_scrape(platform, lambda s: cpu(s) < 20))
    assert quiet < 20

    assert platform.get(metered, "/burn?seconds=20").text == "burning\n"
    busy = cpu(wait_scrape(platform, lambda s: cpu(s) > 60, timeout=20))

    assert busy > 60, f"CPU stayed at {busy}% while the app burned a core"


def test_a_scrape_needs_a_token_or_the_metrics_credential(platform: Platform, metered: str) -> None:
    url = f"{platform.api_url}/metrics"
    assert httpx.get(url, timeout=10).status_code == 401
    refused = httpx.get(url, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"

    as_admin = scrape(platform, token(platform))
    assert as_admin.status_code == 200
    assert as_admin.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert value(parse(as_admin.text), "yun_instance_cpu_percent", app=metered) is not None
    # The credential reads metrics and nothing else.
    apps = httpx.get(
        f"{platform.api_url}/v3/apps",
        headers={"Authorization": f"Bearer {credential(platform)}"},
        timeout=10,
    )
    assert apps.status_code == 401


def test_an_apps_series_through_the_api(platform: Platform, metered: str) -> None:
    guid = json.loads(platform.cli("app", metered, "--json").stdout)["guid"]
    headers = {"Authorization": f"Bearer {token(platform)}"}
    url = f"{platform.api_url}/v3/apps/{guid}/metrics"

    found = httpx.get(url, params={"since": "10m"}, headers=headers, timeout=10).json()

    assert found["interval"] == 2
    app = found["app"]
    assert "requests_per_second" in app["fields"] and len(app["points"]) >= 2
    at = app["fields"].index("instances_running")
    assert app["points"][-1][1][at] == 1
    [instance] = [i for i in found["instances"] if i["process"] == "web"]
    assert instance["index"] == 0 and instance["points"]
    wrong = httpx.get(url, params={"since": "last week"}, headers=headers, timeout=10)
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "since"


def test_top_lists_the_busiest_apps_for_scripts_and_refreshes_on_a_terminal(
    platform: Platform, metered: str
) -> None:
    assert platform.get(metered, "/burn?seconds=8").text == "burning\n"

    def listed() -> list[str]:
        return platform.cli("top", "--sort", "cpu").stdout.splitlines()  # a pipe: once

    deadline = time.monotonic() + 20
    while True:
        lines = listed()
        row = next((line.split() for line in lines if line.startswith(metered + " ")), [])
        if (row and row[3] != "-" and float(row[3]) > 50) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert lines[0].split()[:4] == ["app", "org/space", "instances", "cpu"], lines
    assert lines[1].startswith(metered + " "), lines  # the busiest first
    assert row[1:3] == ["main/dev", "1/1"] and float(row[3]) > 50, row
    as_json = json.loads(platform.cli("top", "--json", "--sort", "memory").stdout)
    assert as_json[0]["memory_bytes"] >= max(a["memory_bytes"] or 0 for a in as_json)
    wrong = platform.cli("top", "--sort", "fastest", check=False)
    assert wrong.returncode != 0 and "--sort" in wrong.stderr

    # On a terminal it redraws until interrupted.
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [YUN, "top", "--every", "1"],
        env=platform.env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
    ) as live:
        os.close(follower)
        seen = b""
        deadline = time.monotonic() + 15
        while seen.count(metered.encode()) < 2 and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1)
            if ready:
                seen += os.read(leader, 65536)
        live.send_signal(signal.SIGINT)
        assert live.wait(10) == 0
    os.close(leader)
    assert seen.count(metered.encode()) >= 2, seen[-2000:]
