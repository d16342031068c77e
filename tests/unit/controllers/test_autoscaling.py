"""The autoscaler with time injected: a load step scales up within the panic window, a drop
scales down only after the stabilization window, noise within tolerance changes nothing, and
every change is an event with its reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from yun.controllers.autoscaling import AutoscaleController, AutoscalePolicy, Decider, Decision
from yun.settings import Settings
from yun.store.bootstrap import bootstrap
from yun.store.models import App, Cluster, Event, Process, Quota, Space
from yun.store.session import Store


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Load:
    """The metric the fake HAProxy / cgroups report: a total for rps, an average for cpu."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def sample(self, app_guid: str, process_guid: str) -> dict[str, float]:
        return dict(self.values)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    made = Store(Settings(home=tmp_path).db_url)
    made.migrate()
    yield made
    made.close()


def make_app(store: Store, tmp_path: Path, spec: dict[str, Any], instances: int = 1) -> str:
    defaults = bootstrap(store, home=tmp_path, domain="apps.localhost", admin_password="pw")
    with store.session() as session:
        own = spec.pop("autoscale", {})
        app = App(
            name="scaled", space_guid=defaults.space_guid, state="STARTED", spec=spec, autoscale=own
        )
        session.add(app)
        session.flush()
        session.add(Process(app_guid=app.guid, type="web", instances=instances))
        return app.guid


def instances(store: Store) -> int:
    with store.session() as session:
        proc = session.scalar(select(Process))
        assert proc is not None
        return proc.instances


def run(controller: AutoscaleController, clock: Clock, store: Store, seconds: int) -> list[int]:
    """One pass a second for `seconds`; the instance count after each."""
    seen = []
    for _ in range(seconds):
        clock.now += 1
        controller.reconcile("autoscale")
        seen.append(instances(store))
    return seen


def world(
    store: Store, tmp_path: Path, spec: dict[str, Any], instances: int = 1
) -> tuple[AutoscaleController, Clock, Load]:
    make_app(store, tmp_path, spec, instances)
    clock, load = Clock(), Load()
    controller = AutoscaleController(store=store, metrics=load, wake=lambda key: None, clock=clock)
    return controller, clock, load


RPS = {"autoscale": {"min": 1, "max": 20, "metric": "rps", "target": 10}}  # a fresh copy each


def test_a_load_step_scales_up_within_the_panic_window(store: Store, tmp_path: Path) -> None:
    controller, clock, load = world(store, tmp_path, dict(RPS))
    load.values = {"rps": 5}
    assert run(controller, clock, store, 90)[-1] == 1  # quiet: one instance is enough
    load.values = {"rps": 100}
    after_step = run(controller, clock, store, 6)
    assert after_step[-1] >= 10, after_step  # within 6 s of the step
    with store.session() as session:
        scaled = [e for e in session.scalars(select(Event)) if e.type == "app.autoscale"]
    assert scaled and scaled[0].data["panic"] is True
    assert "panic window" in scaled[0].data["reason"]
    assert scaled[0].data["from"] == 1


def test_scaling_down_waits_for_the_stabilization_window_and_does_not_flap(
    store: Store, tmp_path: Path
) -> None:
    controller, clock, load = world(store, tmp_path, dict(RPS))
    load.values = {"rps": 100}
    run(controller, clock, store, 30)
    assert instances(store) == 10
    load.values = {"rps": 5}
    calm = run(controller, clock, store, 280)
    assert set(calm) == {10}  # within five minutes of the last busy recommendation
    later = run(controller, clock, store, 120)
    assert later[-1] == 1
    changes = [b for a, b in zip([10, *later], later, strict=False) if a != b]
    assert all(b < a for a, b in zip([10, *changes], changes, strict=False))  # only down


def test_noise_within_tolerance_changes_nothing(store: Store, tmp_path: Path) -> None:
    controller, clock, load = world(store, tmp_path, dict(RPS), instances=4)
    seen = []
    for second in range(200):
        load.values = {"rps": 40 * (1.08 if second % 2 else 0.93)}
        seen += run(controller, clock, store, 1)
    assert set(seen) == {4}


def test_bounds_hold(store: Store, tmp_path: Path) -> None:
    spec = {"autoscale": {"min": 2, "max": 5, "metric": "concurrency", "target": 1}}
    controller, clock, load = world(store, tmp_path, spec, instances=3)
    load.values = {"concurrency": 100}
    assert run(controller, clock, store, 10)[-1] == 5
    load.values = {"concurrency": 0}
    assert run(controller, clock, store, 400)[-1] == 2


def test_the_stackato_block_scales_on_its_cpu_band(store: Store, tmp_path: Path) -> None:
    spec = {
        "stackato": {
            "autoscale": {
                "enabled": True,
                "instances": {"min": 1, "max": 6},
                "cpu": {"min": 30, "max": 80},
            }
        }
    }
    controller, clock, load = world(store, tmp_path, spec, instances=2)
    load.values = {"cpu": 50}
    assert set(run(controller, clock, store, 60)) == {2}  # inside the band
    load.values = {"cpu": 160}
    up = run(controller, clock, store, 60)
    assert up[-1] >= 4  # twice the band's top: about twice the instances
    load.values = {"cpu": 5}
    assert run(controller, clock, store, 400)[-1] == 1


def test_a_disabled_stackato_block_does_nothing() -> None:
    spec = {"stackato": {"autoscale": {"enabled": False, "instances": {"min": 4}}}}
    assert AutoscalePolicy.of({}, spec) is None


def test_no_sample_no_decision() -> None:
    decider = Decider(policy=AutoscalePolicy(min=1, max=3, metric="rps", target=10))
    assert decider.decide(10.0, current=1) is None


ZERO = {"autoscale": {"min": 0, "max": 3, "metric": "rps", "target": 10, "idle": 30}}


def test_an_idle_app_goes_to_zero_only_after_its_idle_time(store: Store, tmp_path: Path) -> None:
    controller, clock, load = world(store, tmp_path, dict(ZERO), instances=1)
    load.values = {"rps": 4}
    assert set(run(controller, clock, store, 40)) == {1}  # requests keep it up
    load.values = {"rps": 0}
    quiet = run(controller, clock, store, 40)
    assert quiet[:28] == [1] * 28 and quiet[-1] == 0  # after 30 s without a request
    with store.session() as session:
        last = session.scalars(select(Event).order_by(Event.created_at.desc())).first()
        assert last is not None and "scaled to zero" in last.data["reason"]
    assert set(run(controller, clock, store, 60)) == {0}  # and stays there: no sample wakes it


def test_a_woken_app_gets_a_whole_idle_time_again(store: Store, tmp_path: Path) -> None:
    controller, clock, load = world(store, tmp_path, dict(ZERO), instances=1)
    load.values = {"rps": 0}
    run(controller, clock, store, 40)
    assert instances(store) == 0
    with store.session() as session:  # what the activator does on the first request
        proc = session.scalar(select(Process))
        assert proc is not None
        proc.instances = 1
    again = run(controller, clock, store, 40)
    assert again[:28] == [1] * 28 and again[-1] == 0


def test_a_wake_up_between_two_looks_is_not_undone() -> None:
    decider = Decider(policy=AutoscalePolicy(min=0, max=2, metric="rps", target=10, idle=5))
    decider.saw(0.0, requests=0.0, instances=1)
    decider.window.add(0.0, 0.0)
    decider.saw(6.0, requests=0.0, instances=1)
    assert decider.decide(6.0, current=1) == Decision(
        0, "no request for 6 s: scaled to zero", False
    )
    decider.saw(7.0, requests=0.0, instances=1)  # the activator woke it before this look
    decision = decider.decide(7.0, current=1)
    assert decision is not None and decision.desired == 1


def test_a_slow_p95_scales_up_in_proportion(store: Store, tmp_path: Path) -> None:
    spec = {"autoscale": {"min": 1, "max": 10, "metric": "p95_ms", "target": 300}}
    controller, clock, load = world(store, tmp_path, spec, instances=2)
    load.values = {"p95_ms": 310}
    assert set(run(controller, clock, store, 30)) == {2}  # within tolerance
    load.values = {"p95_ms": 600}
    assert run(controller, clock, store, 60)[-1] >= 4  # twice the target: about twice as many


def test_the_autoscaler_stops_at_a_quota_and_says_so_once(store: Store, tmp_path: Path) -> None:
    controller, clock, load = world(store, tmp_path, dict(RPS))
    with store.session() as session:
        app = session.scalar(select(App))
        assert app is not None
        space = session.get(Space, app.space_guid)
        assert space is not None
        quota = Quota(name="small", instances=4)
        session.add(quota)
        session.flush()
        space.quota_guid = quota.guid
    load.values = {"rps": 100}  # ten instances wanted
    seen = run(controller, clock, store, 30)
    assert max(seen) == 4 and seen[-1] == 4
    with store.session() as session:
        held = [e for e in session.scalars(select(Event)) if e.type == "app.autoscale.quota"]
    assert len(held) == 1  # one event while it is held at the same count for the same wish
    assert held[0].data["allowed"] == 4 and held[0].data["wanted"] >= 10
    assert "quota" in held[0].data["message"]
    with store.session() as session:
        plan = session.scalar(select(Quota))
        assert plan is not None
        plan.instances = None  # lifted: it goes on up
    assert run(controller, clock, store, 10)[-1] >= 10


def test_an_app_on_a_cluster_is_left_to_its_horizontal_pod_autoscaler(
    store: Store, tmp_path: Path
) -> None:
    controller, clock, load = world(store, tmp_path, dict(RPS))
    with store.session() as session:
        cluster = Cluster(name="prod", kubeconfig="apiVersion: v1\nkind: Config\n")
        session.add(cluster)
        session.flush()
        app = session.scalar(select(App))
        assert app is not None
        space = session.get(Space, app.space_guid)
        assert space is not None
        space.cluster_guid = cluster.guid
    load.values = {"rps": 100}
    assert run(controller, clock, store, 30) == [1] * 30
