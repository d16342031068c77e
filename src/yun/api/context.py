"""What every API handler needs: settings, the store, blobs, logs, and a way to wake controllers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from yun.api.throttle import LoginThrottle
from yun.blobstore import BlobStore
from yun.brokers.client import Broker, BrokerClient
from yun.logstore import LogStore
from yun.metrics.hub import MetricsHub
from yun.settings import Settings
from yun.stacks import StackStore
from yun.store.bootstrap import Defaults
from yun.store.session import Store


class ExportError(RuntimeError):
    """A droplet could not be exported; the message says why, in one line."""


class InstanceUsage(Protocol):
    """What one instance uses now, as the node agent measures it (its `Usage`); bytes, None
    where unknown. Described here, not imported: the api never imports the agent."""

    @property
    def memory_bytes(self) -> int | None: ...

    @property
    def disk_bytes(self) -> int | None: ...


UsageProvider = Callable[[str], InstanceUsage | None]
"""Measures the live instance of an agent slot ("<process guid>:<index>"); None without one."""


NO_GVISOR: dict[str, str | None] = {"runc": None, "gvisor": "this platform has no runsc"}


@dataclass
class ApiContext:
    settings: Settings
    store: Store
    blobs: BlobStore
    logs: LogStore
    defaults: Defaults
    wake: Callable[[str], None]
    """Called with a controller key ("build:<guid>", "instances", "routes") after a write."""
    usage: UsageProvider | None = None
    """The node agent's live measurements, for `yun app`; None when no agent runs in-process."""
    driver: str = "process"  # what runs instances: "process" or "runc"
    runtimes: dict[str, str | None] = field(default_factory=lambda: dict(NO_GVISOR))
    """Per container runtime a space or app may ask for: why instances of this platform cannot
    run under it, or None when they can (`server.drivers.runtimes_missing`)."""
    broker_clients: Callable[[Broker], BrokerClient] = BrokerClient
    """Opens a client for a service broker (the API reads catalogs; controllers do the rest)."""
    stacks: StackStore | None = None
    """The built stacks, which `yun stacks` lists and `yun stack update` rebuilds; None when
    apps run on the host's own programs (the process driver)."""
    export_droplet: Callable[[str], str] | None = None
    """Exports an app's current droplet into the platform registry, returning the image
    reference, or raises ExportError; None when the server runs no registry."""
    metrics: MetricsHub | None = None
    """The metrics the sampler keeps, and the platform's instruments; None: none kept."""
    key_counts: Callable[[str], dict[str, int]] | None = None
    """The router's counters of a route's API keys (`HAProxy.key_counts`); None: no router."""
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    """Failed logins so far, which slow the next ones down."""
