"""TCP routes through the controllers: instances are told their ports' names, report the ports
they got, and the router is given the RUNNING ones."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from yun.agent import InstanceReport, InstanceState
from yun.blobstore import BlobStore
from yun.controllers.routing import RouteController
from yun.controllers.scheduling import InstanceController, InstanceReporter
from yun.logstore import LogStore
from yun.settings import Settings
from yun.slots import slot_of
from yun.store.bootstrap import bootstrap
from yun.store.models import App, Droplet, Instance, Process, Revision, TcpRoute
from yun.store.releases import process_settings
from yun.store.session import Store


class FakeAgent:
    def __init__(self) -> None:
        self.desired: list[Any] = []

    def set_desired(self, specs: list[Any]) -> None:
        self.desired = list(specs)

    def desired_specs(self) -> dict[str, Any]:
        return {spec.slot: spec for spec in self.desired}


class FakeHAProxy:
    def __init__(self) -> None:
        self.routes: list[Any] = []
        self.tcp_routes: list[Any] = []

    def apply(
        self, routes: Sequence[Any], *, tcp_routes: Sequence[Any] = (), reload: bool = True
    ) -> bool:
        self.routes, self.tcp_routes = list(routes), list(tcp_routes)
        return True


@pytest.fixture
def world(tmp_path: Path) -> tuple[Store, str, str, str]:
    """A STARTED app `echo` with web (2 instances) and worker processes and two TCP routes of
    web and one of worker; returns (store, app guid, web guid, worker guid)."""
    store = Store(f"sqlite:///{tmp_path / 'db'}")
    store.migrate()
    defaults = bootstrap(store, home=tmp_path, domain="apps.localhost", admin_password="x")
    with store.session() as session:
        app = App(name="echo", space_guid=defaults.space_guid, state="STARTED", spec={})
        session.add(app)
        session.flush()
        droplet = Droplet(app_guid=app.guid, build_guid="b", blob="a" * 64, process_types={})
        session.add(droplet)
        session.flush()
        rev = Revision(
            app_guid=app.guid,
            version=1,
            droplet_guid=droplet.guid,
            env={},
            commands={"web": "python3 app.py", "worker": "python3 worker.py"},
        )
        session.add(rev)
        session.flush()
        app.revision_guid = rev.guid
        web = Process(app_guid=app.guid, type="web", instances=2)
        worker = Process(app_guid=app.guid, type="worker", instances=1)
        session.add_all([web, worker])
        for port, name, process in ((40001, "tcp", "web"), (40000, "admin", "web")):
            session.add(
                TcpRoute(
                    port=port,
                    name=name,
                    app_guid=app.guid,
                    process_type=process,
                    space_guid=app.space_guid,
                )
            )
        session.add(
            TcpRoute(
                port=40002,
                name="jobs",
                app_guid=app.guid,
                process_type="worker",
                space_guid=app.space_guid,
            )
        )
        session.flush()
        rev.processes = process_settings(session, app)  # the revision pins the routes' names
        return store, app.guid, web.guid, worker.guid


def test_instances_are_told_the_names_of_their_process_routes(
    world: tuple[Store, str, str, str], tmp_path: Path
) -> None:
    store, _, web, worker = world
    agent = FakeAgent()
    controller = InstanceController(
        store=store, blobs=BlobStore(tmp_path / "blobs"), settings=Settings(), agent=agent
    )
    controller.reconcile("instances")
    ports = {(spec.process_guid, spec.index): spec.ports for spec in agent.desired}
    assert ports == {
        (web, 0): ("admin", "tcp"),
        (web, 1): ("admin", "tcp"),
        (worker, 0): ("jobs",),
    }


def _report(slot: str, ports: dict[str, int], state: InstanceState) -> InstanceReport:
    return InstanceReport(
        slot=slot,
        instance_guid="g",
        state=state,
        address="127.0.0.1",
        port=5000,
        pid=1,
        since=0.0,
        crash_count=0,
        exit_code=None,
        reason=None,
        fingerprint="f",
        ports=ports,
    )


def test_reported_ports_reach_the_router_for_running_instances_only(
    world: tuple[Store, str, str, str], tmp_path: Path
) -> None:
    store, _, web, worker = world
    woken: list[str] = []
    reporter = InstanceReporter(store=store, logs=LogStore(tmp_path / "logs"), wake=woken.append)
    reporter.on_state(
        _report(slot_of(web, 1, 0), {"tcp": 6000, "admin": 6001}, InstanceState.RUNNING)
    )
    reporter.on_state(
        _report(slot_of(web, 1, 1), {"tcp": 6010, "admin": 6011}, InstanceState.STARTING)
    )
    reporter.on_state(_report(slot_of(worker, 1, 0), {"jobs": 6020}, InstanceState.RUNNING))
    assert "routes" in woken
    with store.session() as session:
        stored = {(i.process_guid, i.index): i.ports for i in session.query(Instance)}
    assert stored[(web, 0)] == {"tcp": 6000, "admin": 6001}

    haproxy = FakeHAProxy()
    RouteController(store=store, haproxy=haproxy).reconcile("routes")

    by_port = {r.port: [(s.address, s.port) for s in r.servers] for r in haproxy.tcp_routes}
    assert by_port == {
        40000: [("127.0.0.1", 6001)],
        40001: [("127.0.0.1", 6000)],
        40002: [("127.0.0.1", 6020)],
    }
    assert {r.app_name for r in haproxy.tcp_routes} == {"echo"}
    with store.session() as session:
        routed = {(i.process_guid, i.index): i.routed for i in session.query(Instance)}
    # The worker has no HTTP route: its TCP route is what the drain before a stop waits for.
    assert routed == {(web, 0): True, (web, 1): False, (worker, 0): True}


def test_instances_without_the_port_and_stopped_apps_get_no_connections(
    world: tuple[Store, str, str, str], tmp_path: Path
) -> None:
    store, app, web, _ = world
    reporter = InstanceReporter(store=store, logs=LogStore(tmp_path / "logs"), wake=lambda k: None)
    # Started before the route existed: it listens on no TCP port yet.
    reporter.on_state(_report(slot_of(web, 1, 0), {}, InstanceState.RUNNING))
    haproxy = FakeHAProxy()
    controller = RouteController(store=store, haproxy=haproxy)
    controller.reconcile("routes")
    assert sorted(r.port for r in haproxy.tcp_routes) == [40000, 40001, 40002]
    assert all(r.servers == [] for r in haproxy.tcp_routes)

    reporter.on_state(
        _report(slot_of(web, 1, 0), {"tcp": 6000, "admin": 6001}, InstanceState.RUNNING)
    )
    with store.session() as session:
        session.get(App, app).state = "STOPPED"  # type: ignore[union-attr]
    controller.reconcile("routes")
    assert all(r.servers == [] for r in haproxy.tcp_routes)  # ports stay bound, nothing served


def test_a_route_added_after_the_revision_waits_for_the_next_one(
    world: tuple[Store, str, str, str], tmp_path: Path
) -> None:
    """Instances keep their ports until a new revision is rolled out, so adding a TCP route
    never replaces all of them at once."""
    store, app_guid, web, _ = world
    with store.session() as session:
        app = session.get(App, app_guid)
        assert app is not None
        session.add(
            TcpRoute(
                port=40003,
                name="extra",
                app_guid=app_guid,
                process_type="web",
                space_guid=app.space_guid,
            )
        )
    agent = FakeAgent()
    controller = InstanceController(
        store=store, blobs=BlobStore(tmp_path / "blobs"), settings=Settings(), agent=agent
    )
    controller.reconcile("instances")
    assert {spec.ports for spec in agent.desired if spec.process_guid == web} == {("admin", "tcp")}
