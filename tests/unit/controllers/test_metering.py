"""The metrics sampler: instances labelled by their owners, CPU as a rate, apps summed, and
request windows turned into rates and percentiles; written to the store and kept as latest."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from yun.agent import InstanceReport, InstanceSpec
from yun.agent.specs import InstanceState
from yun.controllers.metering import MetricsSampler
from yun.metrics.access import AccessStats
from yun.metrics.store import MetricsStore
from yun.store.bootstrap import bootstrap
from yun.store.models import App, Process
from yun.store.session import Store


class FakeAgent:
    def __init__(self, slots: dict[str, InstanceSpec]) -> None:
        self.slots = slots
        self.cpu = dict.fromkeys(slots, 0.0)

    def reports(self) -> list[InstanceReport]:
        return [
            InstanceReport(
                slot=slot,
                instance_guid=f"inst-{spec.index}",
                state=InstanceState.RUNNING,
                address="127.0.0.1",
                port=5000 + spec.index,
                pid=None,
                since=1000.0,
                crash_count=spec.index,
                exit_code=None,
                reason=None,
                fingerprint="f",
            )
            for slot, spec in self.slots.items()
        ]

    def desired_specs(self) -> dict[str, InstanceSpec]:
        return self.slots

    def usage(self, slot: str, *, disk: bool = True) -> Any:
        return SimpleNamespace(memory_bytes=10_000_000, disk_bytes=4096 if disk else None)

    def cpu_seconds(self, slot: str) -> float:
        return self.cpu[slot]


def test_a_sample_labels_instances_and_sums_them_per_app(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'yun.db'}")
    store.migrate()
    defaults = bootstrap(store, home=tmp_path, domain="apps.localhost", admin_password="pw")
    with store.session() as session:
        app = App(name="shop", space_guid=defaults.space_guid, state="STARTED")
        session.add(app)
        session.flush()
        web = Process(app_guid=app.guid, type="web", instances=2, memory_mb=256)
        session.add(web)
        session.flush()
        app_guid, web_guid = app.guid, web.guid
    slots = {
        f"{web_guid}:1:{i}": InstanceSpec(
            slot=f"{web_guid}:1:{i}",
            app_guid=app_guid,
            app_name="shop",
            process_guid=web_guid,
            process_type="web",
            index=i,
            droplet=tmp_path,
            command="run",
            env={},
            memory_mb=256,
            disk_mb=1024,
        )
        for i in range(2)
    }
    agent = FakeAgent(slots)
    access = AccessStats()
    now = [1010.0]
    sampler = MetricsSampler(
        store=store,
        metrics=MetricsStore(tmp_path / "metrics", clock=lambda: now[0]),
        agent=agent,
        access=access,
        backends=lambda: [{"svname": "BACKEND", "pxname": f"be_{app_guid}_web", "scur": "3"}],
        interval=10,
        clock=lambda: now[0],
    )
    sampler.reconcile("metrics")
    for slot in slots:
        agent.cpu[slot] = 5.0  # half a core over the next ten seconds
    line = (
        f"yunrtr6 be_{app_guid}_web 1 {{ms}} 200 1 1 127.0.0.1:1 127.0.0.1:2 x-1-0 -- GET"
        ' HTTP/1.1 - "shop.apps.localhost" "/" "-" "-" "-" ""\n'
    )
    access.record(app_guid, "".join(line.format(ms=ms) for ms in range(1, 101)).encode())
    now[0] = 1020.0
    sampler.reconcile("metrics")

    instances = [s for s in sampler.latest.values() if s.kind == "instance"]
    assert sorted(s.labels["instance"] for s in instances) == ["0", "1"]
    assert instances[0].labels | {"instance": "-"} == {
        "org": "main",
        "space": "dev",
        "space_guid": defaults.space_guid,
        "app": "shop",
        "app_guid": app_guid,
        "process": "web",
        "instance": "-",
        "state": "RUNNING",
    }
    assert {s.values["cpu_percent"] for s in instances} == {50.0}
    assert instances[0].values["memory_limit_bytes"] == 256 * 2**20
    assert instances[0].values["uptime_seconds"] == 20.0
    app_sample = sampler.latest[("app", app_guid)]
    assert app_sample.values["cpu_percent"] == 100.0
    assert app_sample.values["memory_bytes"] == 20_000_000
    assert app_sample.values["requests_per_second"] == 10.0
    assert app_sample.values["latency_p95_ms"] == 95.0
    assert app_sample.values["concurrency"] == 3.0
    route = sampler.latest[("route", "shop.apps.localhost")]
    assert route.values["requests_per_second"] == 10.0
    assert len(sampler.metrics.read("app", app_guid, since=0).points) == 2
    store.close()
