"""Samples every instance, app, route and service instance every ten seconds into the metrics
store, and keeps the latest sample of each for Prometheus and `yun top`.

Where each number comes from:
- an instance's CPU is the rate of its CPU time (cgroup `cpu.stat` in a container, /proc for a
  process), in percent of one core; memory and disk as `yun app` shows them (the disk walk is
  repeated once a minute, not every sample); restarts are the slot's crash count; uptime is
  since it last became RUNNING;
- an app's and a route's requests, status classes and latency percentiles come from the
  router's access records of the last interval (`AccessStats`), its concurrency from HAProxy's
  backend sessions (`scur`), its CPU and memory from its running instances;
- a service instance is ready when its last operation succeeded; size and connections come from
  the built-in brokers, where they can tell.

Old days are thinned once an hour (`MetricsStore.thin`). The time is injected (`clock`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select

from yun.agent import InstanceReport, InstanceSpec
from yun.controllers.runtime.managing import Result
from yun.metrics.access import CLASSES, AccessStats, Window, percentile
from yun.metrics.store import INTERVAL, MetricsStore, Sample
from yun.router import backend_id
from yun.slots import parse_slot
from yun.store.models import App, Org, Process, ServiceInstance, Space
from yun.store.session import Store

log = logging.getLogger(__name__)

DISK_EVERY = 60.0  # seconds between walks of an instance's files
THIN_EVERY = 3600.0


class AgentView(Protocol):
    def reports(self) -> Sequence[InstanceReport]: ...

    def desired_specs(self) -> Mapping[str, InstanceSpec]: ...

    def usage(self, slot: str, *, disk: bool = True) -> Any: ...

    def cpu_seconds(self, slot: str) -> float | None: ...


@dataclass(frozen=True)
class Owner:
    """Who an instance or a service instance belongs to: the labels of its series."""

    org: str
    space: str
    space_guid: str
    app: str = ""
    app_guid: str = ""
    process: str = ""

    def labels(self, **more: str) -> dict[str, str]:
        found = {"org": self.org, "space": self.space, "space_guid": self.space_guid}
        if self.app_guid:
            found.update(app=self.app, app_guid=self.app_guid)
        if self.process:
            found["process"] = self.process
        return {**found, **more}


class MetricsSampler:
    prefix = "metrics"

    def __init__(
        self,
        *,
        store: Store,
        metrics: MetricsStore,
        agent: AgentView,
        access: AccessStats,
        backends: Callable[[], list[dict[str, str]]],
        service_usage: Callable[[str], Mapping[str, float] | None] | None = None,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.agent = agent
        self.access = access
        self.backends = backends
        self.service_usage = service_usage
        self.interval = interval
        self.clock = clock
        self.latest: dict[tuple[str, str], Sample] = {}
        self.taken_at: float | None = None
        self._cpu: dict[str, tuple[float, float]] = {}  # slot → (time, CPU seconds)
        self._disk: dict[str, tuple[float, int | None]] = {}  # slot → (time, bytes)
        self._thinned_at = float("-inf")

    def reconcile(self, key: str) -> Result:
        now = self.clock()
        samples = self.sample(now)
        self.metrics.write(now, samples)
        self.latest = {(s.kind, s.key): s for s in samples}
        self.taken_at = now
        if now - self._thinned_at >= THIN_EVERY:
            self._thinned_at = now
            self.metrics.thin()
        return Result(requeue_after=self.interval)

    def sample(self, now: float) -> list[Sample]:
        owners, services = self._owners()
        instances = self._instances(now, owners)
        apps, hosts = self.access.take()
        self.access.forget_apps_but({owner.app_guid for owner in owners.values()})
        elapsed = now - self.taken_at if self.taken_at is not None else self.interval
        samples = instances + self._apps(owners, instances, apps, elapsed)
        samples += [self._route(host, window, elapsed) for host, window in hosts.items()]
        return samples + services

    # -- where things belong -----------------------------------------------------------------

    def _owners(self) -> tuple[dict[str, Owner], list[Sample]]:
        """Process guid → its owner; and a sample of every service instance."""
        with self.store.snapshot() as session:
            rows = session.execute(
                select(Process.guid, Process.type, App.guid, App.name, Space.guid, Space.name)
                .add_columns(Org.name)
                .join(App, App.guid == Process.app_guid)
                .join(Space, Space.guid == App.space_guid)
                .join(Org, Org.guid == Space.org_guid)
            ).all()
            owners = {
                proc: Owner(org, space, space_guid, app, app_guid, ptype)
                for proc, ptype, app_guid, app, space_guid, space, org in rows
            }
            found = [
                (si.guid, si.kind, _ready(si), Owner(org, space, si.space_guid), si.name)
                for si, space, org in session.execute(
                    select(ServiceInstance, Space.name, Org.name)
                    .join(Space, Space.guid == ServiceInstance.space_guid)
                    .join(Org, Org.guid == Space.org_guid)
                ).all()
            ]
        services = []
        for guid, kind, ready, owner, name in found:
            values: dict[str, float | None] = {"ready": 1.0 if ready else 0.0}
            if kind == "managed" and ready and self.service_usage is not None:
                values.update(self.service_usage(guid) or {})
            services.append(Sample("service", guid, owner.labels(service_instance=name), values))
        return owners, services

    # -- instances -----------------------------------------------------------------------------

    def _instances(self, now: float, owners: Mapping[str, Owner]) -> list[Sample]:
        specs = self.agent.desired_specs()
        samples = []
        live = set()
        for report in self.agent.reports():
            if report.state.value not in ("RUNNING", "STARTING"):
                continue
            process_guid, _version, index = parse_slot(report.slot)
            owner = owners.get(process_guid)
            if owner is None:
                continue
            live.add(report.slot)
            spec = specs.get(report.slot)
            disk_due = now - self._disk.get(report.slot, (float("-inf"), None))[0] >= DISK_EVERY
            memory = self.agent.usage(report.slot, disk=disk_due)
            values: dict[str, float | None] = {
                "cpu_percent": self._cpu_percent(report.slot, now),
                "memory_bytes": getattr(memory, "memory_bytes", None),
                "memory_limit_bytes": spec.memory_mb * 2**20 if spec else None,
                "disk_bytes": self._disk_bytes(report.slot, now, memory if disk_due else None),
                "disk_quota_bytes": spec.disk_mb * 2**20 if spec else None,
                "restarts": float(report.crash_count),
                "uptime_seconds": max(0.0, now - report.since)
                if report.state.value == "RUNNING"
                else 0.0,
            }
            labels = owner.labels(instance=str(index), state=report.state.value)
            samples.append(Sample("instance", report.instance_guid, labels, values))
        for slot in set(self._cpu) - live:
            del self._cpu[slot]
        for slot in set(self._disk) - live:
            del self._disk[slot]
        return samples

    def _cpu_percent(self, slot: str, now: float) -> float | None:
        used = self.agent.cpu_seconds(slot)
        if used is None:
            return None
        before = self._cpu.get(slot)
        self._cpu[slot] = (now, used)
        if before is None or now <= before[0] or used < before[1]:
            return None
        return 100.0 * (used - before[1]) / (now - before[0])

    def _disk_bytes(self, slot: str, now: float, walked: Any) -> float | None:
        """The disk bytes `walked` measured (a usage taken with the disk), else the last."""
        if walked is not None:
            self._disk[slot] = (now, getattr(walked, "disk_bytes", None))
        measured = self._disk.get(slot, (now, None))[1]
        return float(measured) if measured is not None else None

    # -- apps and routes -------------------------------------------------------------------------

    def _apps(
        self,
        owners: Mapping[str, Owner],
        instances: list[Sample],
        windows: Mapping[str, Window],
        elapsed: float,
    ) -> list[Sample]:
        in_flight: dict[str, float] = {}
        try:
            rows = self.backends()
        except Exception:  # the router restarting: no concurrency this time
            rows = []
        for row in rows:
            if row.get("svname") == "BACKEND":
                found = (backend_id(row.get("pxname", "")) or "")[:36]
                in_flight[found] = in_flight.get(found, 0.0) + float(row.get("scur") or 0)
        apps = {o.app_guid: o for o in owners.values()}
        samples = []
        for app_guid, owner in apps.items():
            mine = [s for s in instances if s.labels.get("app_guid") == app_guid]
            values = _traffic(windows.get(app_guid, Window()), elapsed)
            values["concurrency"] = in_flight.get(app_guid, 0.0)
            values["cpu_percent"] = _sum(s.values.get("cpu_percent") for s in mine)
            values["memory_bytes"] = _sum(s.values.get("memory_bytes") for s in mine)
            values["instances_running"] = float(
                sum(1 for s in mine if s.labels.get("state") == "RUNNING")
            )
            labels = {k: v for k, v in owner.labels().items() if k != "process"}
            samples.append(Sample("app", app_guid, labels, values))
        return samples

    @staticmethod
    def _route(host: str, window: Window, elapsed: float) -> Sample:
        traffic = _traffic(window, elapsed)
        values = {
            name: traffic[name]
            for name in ("requests_per_second", "responses_5xx_per_second", "latency_p95_ms")
        }
        return Sample("route", host, {"route": host}, values)


def _traffic(window: Window, elapsed: float) -> dict[str, float | None]:
    per_second = 1.0 / max(elapsed, 1e-3)
    values: dict[str, float | None] = {"requests_per_second": window.requests * per_second}
    for kind in CLASSES:
        values[f"responses_{kind}_per_second"] = window.responses.get(kind, 0) * per_second
    times = sorted(window.times_ms)
    for share, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        values[f"latency_{name}_ms"] = percentile(times, share)
    return values


def _sum(values: Any) -> float | None:
    known = [float(v) for v in values if v is not None]
    return sum(known) if known else None


def _ready(instance: ServiceInstance) -> bool:
    operation = instance.last_operation or {}
    return instance.kind != "managed" or operation.get("state") in (None, "succeeded")
