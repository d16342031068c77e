"""`/metrics`: the latest samples and the platform's own numbers in Prometheus' text format.

Series carry the labels `org`, `space`, `app`, `process`, `instance` (the index) where they
apply, so a Grafana dashboard (docs/grafana-dashboard.json) can pick an app or an instance.
Request counts are counters (`yun_app_requests_total{code_class="5xx"}`), as Prometheus' rate()
wants; response time percentiles are gauges over the last sample's ten seconds.

A scrape reads what the sampler kept (no measurement happens during a scrape), so it stays
fast however many instances run. `visible` leaves out the series of spaces the caller may not
see; the platform's own series are for admins and the metrics credential only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import (
    CollectorRegistry,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from yun.metrics.access import CLASSES
from yun.metrics.store import Sample

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Buckets of the API's and the controllers' histograms, in seconds: every route template has
# its own, so few buckets keep a scrape small (and fast).
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

# No `_created` series beside every counter and histogram: Prometheus does not need them, and
# they would be a third of a scrape.
disable_created_metrics()  # type: ignore[no-untyped-call]

_INSTANCE_LABELS = ("org", "space", "app", "process", "instance")
_APP_LABELS = ("org", "space", "app")
_INSTANCE = {  # field → (metric name, help, scale)
    "cpu_percent": ("yun_instance_cpu_percent", "CPU use, in percent of one core", 1.0),
    "memory_bytes": ("yun_instance_memory_bytes", "Memory in use", 1.0),
    "memory_limit_bytes": ("yun_instance_memory_limit_bytes", "Memory limit", 1.0),
    "disk_bytes": ("yun_instance_disk_bytes", "Disk in use", 1.0),
    "disk_quota_bytes": ("yun_instance_disk_quota_bytes", "Disk quota", 1.0),
    "uptime_seconds": ("yun_instance_uptime_seconds", "Seconds since it became running", 1.0),
}
_APP = {
    "requests_per_second": ("yun_app_requests_per_second", "Requests per second", 1.0),
    "concurrency": ("yun_app_concurrency", "Requests in flight at the router", 1.0),
    "cpu_percent": ("yun_app_cpu_percent", "Its instances' CPU, summed", 1.0),
    "memory_bytes": ("yun_app_memory_bytes", "Its instances' memory, summed", 1.0),
    "instances_running": ("yun_app_instances_running", "Running instances", 1.0),
}
_SERVICE_LABELS = ("org", "space", "service_instance")
_SERVICE = {
    "size_bytes": ("yun_service_instance_size_bytes", "Its data (built-in services)", 1.0),
    "connections": ("yun_service_instance_connections", "Clients connected (built-in)", 1.0),
}
_QUANTILES = {"latency_p50_ms": "0.5", "latency_p95_ms": "0.95", "latency_p99_ms": "0.99"}


class PlatformInstruments:
    """The platform's own measurements, recorded where they happen."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.api_seconds = Histogram(
            "yun_api_request_duration_seconds",
            "API requests by route template and method",
            ["method", "route"],
            buckets=SECONDS,
            registry=self.registry,
        )
        self.reconcile_seconds = Histogram(
            "yun_reconcile_duration_seconds",
            "Reconcile passes by controller",
            ["controller", "outcome"],
            buckets=SECONDS,
            registry=self.registry,
        )
        self.staging_seconds = Histogram(
            "yun_staging_duration_seconds",
            "Builds from start to end",
            ["outcome"],
            buckets=(5, 10, 20, 30, 60, 120, 300, 600, 1200),
            registry=self.registry,
        )
        self.agent_pass_seconds = Histogram(
            "yun_agent_pass_duration_seconds",
            "The agent's supervision passes (liveness, health checks, restarts of every instance)",
            buckets=SECONDS,
            registry=self.registry,
        )
        self.router_reloads = PromCounter(
            "yun_router_reloads", "HAProxy configuration reloads", registry=self.registry
        )
        self.queue_depths: Callable[[], Mapping[str, int]] = dict
        self.registry.register(_Depths(self))

    def observe_reconcile(self, controller: str, seconds: float, failed: bool) -> None:
        outcome = "failure" if failed else "success"
        self.reconcile_seconds.labels(controller, outcome).observe(seconds)


class _Depths(Collector):
    def __init__(self, instruments: PlatformInstruments) -> None:
        self.instruments = instruments

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "yun_reconcile_queue_depth", "Keys waiting per controller", labels=["controller"]
        )
        for controller, depth in sorted(self.instruments.queue_depths().items()):
            family.add_metric([controller], depth)
        yield family


class SampleCollector(Collector):
    """The latest samples and the request totals as metric families."""

    def __init__(
        self,
        samples: Iterable[Sample],
        totals: tuple[Mapping[str, Counter[str]], Mapping[str, Counter[str]]],
        visible: Callable[[str], bool] | None = None,
    ) -> None:
        keep = visible or (lambda _space: True)
        self.samples = [s for s in samples if s.kind == "route" or keep(s.labels["space_guid"])]
        self.totals = totals
        self.admin = visible is None

    def collect(self) -> Iterator[Metric]:
        by_kind: dict[str, list[Sample]] = {}
        for sample in self.samples:
            by_kind.setdefault(sample.kind, []).append(sample)
        yield from _gauges(by_kind.get("instance", []), _INSTANCE, _INSTANCE_LABELS)
        restarts = CounterMetricFamily(
            "yun_instance_restarts", "Crashes of the instance's slot", labels=_INSTANCE_LABELS
        )
        for sample in by_kind.get("instance", []):
            if (value := sample.values.get("restarts")) is not None:
                restarts.add_metric(_values(sample, _INSTANCE_LABELS), value)
        yield restarts
        apps = by_kind.get("app", [])
        yield from _gauges(apps, _APP, _APP_LABELS)
        yield from self._requests(apps)
        yield _latency(apps, "yun_app_response_time_seconds", _APP_LABELS)
        if self.admin:
            yield from self._routes(by_kind.get("route", []))
        ready = GaugeMetricFamily(
            "yun_service_instance_ready",
            "1 when the service instance's last operation succeeded",
            labels=_SERVICE_LABELS,
        )
        services = by_kind.get("service", [])
        for sample in services:
            ready.add_metric(_values(sample, _SERVICE_LABELS), sample.values.get("ready") or 0.0)
        yield ready
        yield from _gauges(services, _SERVICE, _SERVICE_LABELS)

    def _requests(self, apps: list[Sample]) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "yun_app_requests",
            "Requests answered, by status class",
            labels=[*_APP_LABELS, "code_class"],
        )
        app_totals = self.totals[0]
        for sample in apps:
            counts = app_totals.get(sample.key, Counter())
            for kind in CLASSES:
                family.add_metric([*_values(sample, _APP_LABELS), kind], counts.get(kind, 0))
        yield family

    def _routes(self, routes: list[Sample]) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "yun_route_requests",
            "Requests answered per host, by status class",
            labels=["route", "code_class"],
        )
        for host, counts in sorted(self.totals[1].items()):
            for kind in CLASSES:
                family.add_metric([host, kind], counts.get(kind, 0))
        yield family
        yield _latency(routes, "yun_route_response_time_seconds", ("route",))


def _values(sample: Sample, names: Iterable[str]) -> list[str]:
    return [sample.labels.get(name, "") for name in names]


def _gauges(
    samples: list[Sample], fields: Mapping[str, tuple[str, str, float]], labels: tuple[str, ...]
) -> Iterator[Metric]:
    for field, (name, text, scale) in fields.items():
        family = GaugeMetricFamily(name, text, labels=labels)
        for sample in samples:
            if (value := sample.values.get(field)) is not None:
                family.add_metric(_values(sample, labels), value * scale)
        yield family


def _latency(samples: list[Sample], name: str, labels: tuple[str, ...]) -> Metric:
    family = GaugeMetricFamily(
        name, "Response time percentiles of the last ten seconds", labels=[*labels, "quantile"]
    )
    for sample in samples:
        for field, quantile in _QUANTILES.items():
            if (ms := sample.values.get(field)) is not None:
                family.add_metric([*_values(sample, labels), quantile], ms / 1000.0)
    return family


def render(collector: SampleCollector, platform: PlatformInstruments | None) -> bytes:
    """The text of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    text = generate_latest(registry)
    if platform is not None:
        text += generate_latest(platform.registry)
    return text
