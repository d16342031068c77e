"""The Grafana dashboard in docs/ reads series `/metrics` really has, by the labels they carry."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from tests.unit.metrics.test_exposition import SAMPLES, TOTALS

from yun.metrics.exposition import PlatformInstruments, SampleCollector, render
from yun.metrics.store import FIELDS, Sample

DASHBOARD = Path(__file__).parents[3] / "docs" / "grafana-dashboard.json"


def exposed() -> dict[str, set[str]]:
    """Every sample name of a scrape, with the label names it carries."""
    platform = PlatformInstruments()
    platform.api_seconds.labels("GET", "/v3/apps").observe(0.01)
    platform.reconcile_seconds.labels("instances", "success").observe(0.01)
    platform.staging_seconds.labels("staged").observe(30)
    platform.queue_depths = lambda: {"instances": 0}
    # Every field of every kind known, so every series the exporter can write is there.
    samples = [s._replace(values=dict.fromkeys(FIELDS[s.kind], 1.0)) for s in SAMPLES]
    samples.append(
        Sample(
            "service",
            "si-1",
            {**SAMPLES[1].labels, "service_instance": "db"},
            dict.fromkeys(FIELDS["service"], 1.0),
        )
    )
    samples.append(Sample("route", "shop.example.com", {"route": "shop.example.com"}, {}))
    text = render(SampleCollector(samples, TOTALS), platform).decode()
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    return found


def test_every_query_names_series_and_labels_the_scrape_has() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    have = exposed()
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queries += [
        v["query"]["query"]
        for v in dashboard["templating"]["list"]
        if "query" in v and isinstance(v["query"], dict)
    ]
    assert len(queries) >= 12
    for query in queries:
        for name, selector in re.findall(r"(yun_[a-z0-9_]+)(?:\{([^}]*)\})?", query):
            assert name in have, f"{name} (in {query}) is not in a scrape"
            for label in re.findall(r"([a-z_]+)\s*=~?", selector):
                assert label in have[name], f"{name} has no label {label}: {query}"
