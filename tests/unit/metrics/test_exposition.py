"""`/metrics`' text: the samples as Prometheus families, with their labels, filtered by space."""

from __future__ import annotations

from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from yun.metrics.exposition import PlatformInstruments, SampleCollector, render
from yun.metrics.store import Sample

OWNER = {"org": "acme", "space": "prod", "space_guid": "s-1", "app": "shop", "app_guid": "a-1"}
SAMPLES = [
    Sample(
        "instance",
        "i-1",
        {**OWNER, "process": "web", "instance": "0", "state": "RUNNING"},
        {"cpu_percent": 12.5, "memory_bytes": 1000.0, "restarts": 2.0},
    ),
    Sample("app", "a-1", OWNER, {"requests_per_second": 3.0, "latency_p95_ms": 250.0}),
    Sample(
        "app",
        "a-2",
        {**OWNER, "space_guid": "s-2", "app": "secret", "app_guid": "a-2"},
        {"requests_per_second": 1.0},
    ),
]
TOTALS = ({"a-1": Counter({"2xx": 7, "5xx": 1})}, {"shop.example.com": Counter({"2xx": 8})})


def parsed(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def test_samples_become_families_with_the_owners_labels() -> None:
    platform = PlatformInstruments()
    platform.queue_depths = lambda: {"instances": 2}
    platform.router_reloads.inc()

    found = parsed(render(SampleCollector(SAMPLES, TOTALS), platform))

    web0 = {"org": "acme", "space": "prod", "app": "shop", "process": "web", "instance": "0"}
    assert found[("yun_instance_cpu_percent", frozenset(web0.items()))] == 12.5
    assert found[("yun_instance_restarts_total", frozenset(web0.items()))] == 2
    shop = {"org": "acme", "space": "prod", "app": "shop"}
    assert found[("yun_app_requests_total", frozenset({**shop, "code_class": "5xx"}.items()))] == 1
    p95 = frozenset({**shop, "quantile": "0.95"}.items())
    assert found[("yun_app_response_time_seconds", p95)] == 0.25
    assert found[("yun_reconcile_queue_depth", frozenset({"controller": "instances"}.items()))] == 2
    assert found[("yun_router_reloads_total", frozenset())] == 1
    assert (
        "yun_route_requests_total",
        frozenset({"route": "shop.example.com", "code_class": "2xx"}.items()),
    ) in found


def test_a_user_sees_only_the_spaces_they_may_and_no_platform_series() -> None:
    found = parsed(render(SampleCollector(SAMPLES, TOTALS, {"s-1"}.__contains__), None))

    apps = {dict(labels)["app"] for name, labels in found if name.startswith("yun_app")}
    assert apps == {"shop"}
    assert not any(name.startswith(("yun_reconcile", "yun_route")) for name, _ in found)
