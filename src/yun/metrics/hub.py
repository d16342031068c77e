"""What the API reads of metrics: the store, the latest samples, the platform's instruments."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from yun.metrics.access import AccessStats
from yun.metrics.exposition import PlatformInstruments
from yun.metrics.store import MetricsStore, Sample

CREDENTIAL_FILE = "metrics-token"


@dataclass
class MetricsHub:
    store: MetricsStore
    credential: str
    """The metrics-only credential: a scrape that sends it as a bearer token reads every
    series (and nothing else)."""
    access: AccessStats = field(default_factory=AccessStats)
    instruments: PlatformInstruments = field(default_factory=PlatformInstruments)
    latest: Callable[[], list[Sample]] = list
    """The newest sample of every entity (the sampler sets it)."""


def metrics_credential(home: Path, given: str = "") -> str:
    """`given` (YUN_METRICS_TOKEN), else the one in `$YUN_HOME/metrics-token`, made (mode
    0600) the first time, for Prometheus' `credentials_file`."""
    if given:
        return given
    path = home / CREDENTIAL_FILE
    try:
        found = path.read_text().strip()
    except FileNotFoundError:
        found = ""
    if not found:
        found = secrets.token_urlsafe(32)
        path.touch(mode=0o600)
        path.write_text(found + "\n")
    return found
