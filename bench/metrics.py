"""Metrics at 100 instances: the time of a `/metrics` scrape, and the store's size after a day.

Scrape: the API application (access policy, audit and timing middleware on) in this process,
with the latest samples of 100 instances of 20 apps (5 each), 20 routes and 10 service
instances, and the platform's instruments filled the way a day of calls fills them (API
latency for every route template, reconciles of every controller). `GET /metrics` with the
metrics credential is timed `--calls` times, against `GET /v3/info` (the same stack, nothing
to render) as the baseline of the same run. Target: p99 ≤ 100 ms.

Store: 24 simulated hours of those 100 instances, 20 apps and 20 routes sampled every 10 s
(8,640 samples each, written as the sampler writes them), then the thinning of the next day
but one. Target: ≤ 200 MB.

    .venv/bin/python bench/metrics.py --calls 300
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from serving import percentiles

from yun.api.app import create_app
from yun.api.context import ApiContext
from yun.api.policy import POLICY
from yun.blobstore import BlobStore
from yun.logstore import LogStore
from yun.metrics.hub import MetricsHub
from yun.metrics.store import FIELDS, INTERVAL, MetricsStore, Sample
from yun.settings import Settings
from yun.store.bootstrap import bootstrap
from yun.store.session import Store

APPS, PER_APP, ROUTES, SERVICES = 20, 5, 20, 10


def entities() -> list[Sample]:
    """The latest samples of a platform of 100 instances."""
    found = []
    for a in range(APPS):
        owner = {"org": f"org-{a % 4}", "space": f"space-{a % 8}", "space_guid": f"s-{a % 8}"}
        app = {**owner, "app": f"app-{a}", "app_guid": f"{a:08x}-0000-4000-8000-000000000000"}
        found.append(Sample("app", app["app_guid"], app, dict.fromkeys(FIELDS["app"], 1.5)))
        for i in range(PER_APP):
            labels = {**app, "process": "web", "instance": str(i), "state": "RUNNING"}
            key = f"{a:08x}-{i:04x}-4000-8000-000000000001"
            found.append(Sample("instance", key, labels, dict.fromkeys(FIELDS["instance"], 2.5)))
    for r in range(ROUTES):
        host = f"app-{r}.apps.example.com"
        found.append(Sample("route", host, {"route": host}, dict.fromkeys(FIELDS["route"], 0.5)))
    for s in range(SERVICES):
        owner = {"org": "org-0", "space": "space-0", "space_guid": "s-0"}
        labels = {**owner, "service_instance": f"db-{s}"}
        found.append(Sample("service", f"svc-{s}", labels, {"ready": 1.0}))
    return found


def timed(client: TestClient, path: str, calls: int, headers: dict[str, str]) -> list[float]:
    for _ in range(10):
        client.get(path, headers=headers)
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        answer = client.get(path, headers=headers)
        samples.append(time.perf_counter() - start)
        answer.raise_for_status()
    return samples


def scrape(home: Path, calls: int) -> None:
    store = Store(f"sqlite:///{home / 'yun.db'}")
    store.migrate()
    settings = Settings(home=home, admin_password="pw")
    hub = MetricsHub(MetricsStore(home / "metrics"), credential="bench-credential")
    latest = entities()
    hub.latest = lambda: latest
    for a in range(APPS):
        hub.access.app_totals[latest[a * (PER_APP + 1)].key] = {"2xx": 1000, "5xx": 3}  # type: ignore[assignment]
    for method, path in POLICY:
        hub.instruments.api_seconds.labels(method, path).observe(random.random() / 10)
    for controller in ("build", "instances", "routes", "deployments", "autoscale", "metrics"):
        for outcome in ("success", "failure"):
            hub.instruments.reconcile_seconds.labels(controller, outcome).observe(0.01)
    hub.instruments.queue_depths = lambda: {"instances": 1, "routes": 0}
    ctx = ApiContext(
        settings=settings,
        store=store,
        blobs=BlobStore(home / "blobs"),
        logs=LogStore(home / "logs"),
        defaults=bootstrap(store, home=home, domain="apps.localhost", admin_password="pw"),
        wake=lambda key: None,
        metrics=hub,
    )
    headers = {"Authorization": "Bearer bench-credential"}
    with TestClient(create_app(ctx)) as client:
        size = len(client.get("/metrics", headers=headers).content)
        info = percentiles(timed(client, "/v3/info", calls, {}))
        metrics = percentiles(timed(client, "/metrics", calls, headers))
    store.close()
    print(f"GET /metrics: {size / 1024:.0f} KiB, {len(latest)} entities")
    print(f"{'call':<14} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'/v3/info':<14} {info[0]:8.2f} {info[1]:8.2f}")
    print(f"{'/metrics':<14} {metrics[0]:8.2f} {metrics[1]:8.2f}")
    print(f"/metrics p99 over /v3/info p99: {metrics[1] / info[1]:.1f}x")


def day_of_samples(root: Path) -> None:
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp()
    now = [start]
    store = MetricsStore(root, clock=lambda: now[0])
    latest = [s for s in entities() if s.kind != "service"]
    steps = int(86400 / INTERVAL)
    began = time.perf_counter()
    for step in range(steps):
        store.write(start + step * INTERVAL, latest)
    took = time.perf_counter() - began
    full = store.size_bytes()
    now[0] = start + 2 * 86400 + 1  # the day before yesterday: thinned
    store.thin()
    thinned = store.size_bytes()
    per_sample = took / steps * 1000
    print(f"24 h of {len(latest)} entities at {INTERVAL:.0f} s: {steps} samples")
    print(f"  write: {per_sample:.2f} ms per sample of all entities")
    print(f"  store: {full / 2**20:.1f} MB at full resolution, {thinned / 2**20:.1f} MB thinned")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yun-bench-metrics-") as folder:
        home = Path(folder)
        scrape(home / "api", args.calls)
        day_of_samples(home / "store")


if __name__ == "__main__":
    main()
