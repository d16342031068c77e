"""Instance and route controllers against a real SQLite store, with the agent and HAProxy faked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from yun.blobstore import BlobStore
from yun.controllers.routing import RouteController
from yun.controllers.scheduling import InstanceController, pinned_reference
from yun.settings import Settings
from yun.store.bootstrap import Defaults, bootstrap
from yun.store.models import App, Droplet, Instance, Process, Revision, Route, RouteMapping
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

    def apply(self, routes: list[Any], *, reload: bool = True) -> bool:
        self.routes = list(routes)
        return True


@pytest.fixture
def world(tmp_path: Path) -> tuple[Store, Defaults, BlobStore]:
    store = Store(f"sqlite:///{tmp_path / 'db'}")
    store.migrate()
    defaults = bootstrap(store, home=tmp_path, domain="apps.localhost", admin_password="x")
    return store, defaults, BlobStore(tmp_path / "blobs")


def _app(store: Store, defaults: Defaults, *, name: str, state: str, instances: int) -> str:
    with store.session() as session:
        app = App(name=name, space_guid=defaults.space_guid, state=state, env={"K": "v"}, spec={})
        session.add(app)
        session.flush()
        droplet = Droplet(
            app_guid=app.guid,
            build_guid="b",
            blob="a" * 64,
            process_types={"web": "python3 app.py"},
        )
        session.add(droplet)
        session.flush()
        rev = Revision(
            app_guid=app.guid,
            version=1,
            droplet_guid=droplet.guid,
            env={"K": "v"},
            commands={"web": "python3 app.py"},
        )
        session.add(rev)
        session.flush()
        app.revision_guid = rev.guid
        proc = Process(app_guid=app.guid, type="web", instances=instances)
        session.add(proc)
        route = Route(host=name, domain_guid=defaults.domain_guid, space_guid=app.space_guid)
        session.add(route)
        session.flush()
        session.add(RouteMapping(route_guid=route.guid, app_guid=app.guid))
        return app.guid


def test_only_started_apps_get_instances(world: tuple[Store, Defaults, BlobStore]) -> None:
    store, defaults, blobs = world
    _app(store, defaults, name="up", state="STARTED", instances=2)
    _app(store, defaults, name="down", state="STOPPED", instances=3)
    agent = FakeAgent()
    InstanceController(store=store, blobs=blobs, settings=Settings(), agent=agent).reconcile("i")
    assert sorted((s.app_name, s.index) for s in agent.desired) == [("up", 0), ("up", 1)]
    spec = agent.desired[0]
    assert spec.command == "python3 app.py"
    assert spec.env["K"] == "v"
    assert spec.uris == ("up.apps.localhost",)


def test_router_gets_only_running_instances(world: tuple[Store, Defaults, BlobStore]) -> None:
    store, defaults, _ = world
    guid = _app(store, defaults, name="web", state="STARTED", instances=2)
    with store.session() as session:
        proc = session.query(Process).filter_by(app_guid=guid).one()
        session.add(
            Instance(
                process_guid=proc.guid,
                app_guid=guid,
                index=0,
                state="RUNNING",
                address="127.0.0.1",
                port=5001,
            )
        )
        session.add(
            Instance(
                process_guid=proc.guid,
                app_guid=guid,
                index=1,
                state="STARTING",
                address="127.0.0.1",
                port=5002,
            )
        )
    haproxy = FakeHAProxy()
    RouteController(store=store, haproxy=haproxy).reconcile("routes")
    (route,) = haproxy.routes
    assert route.host == "web.apps.localhost"
    assert [(s.address, s.port) for s in route.servers] == [("127.0.0.1", 5001)]
    with store.session() as session:
        routed = {i.index: i.routed for i in session.query(Instance)}
    assert routed == {0: True, 1: False}


def test_stopped_app_keeps_route_with_no_servers(world: tuple[Store, Defaults, BlobStore]) -> None:
    store, defaults, _ = world
    _app(store, defaults, name="idle", state="STOPPED", instances=1)
    haproxy = FakeHAProxy()
    RouteController(store=store, haproxy=haproxy).reconcile("routes")
    (route,) = haproxy.routes
    assert route.servers == []


def test_a_pulled_image_is_run_elsewhere_by_its_digest() -> None:
    digest = "sha256:" + "c" * 64
    assert (
        pinned_reference("127.0.0.1:5005/e2e/crashy:1", digest)
        == f"127.0.0.1:5005/e2e/crashy@{digest}"
    )
    nginx = "docker.io/library/nginx"
    assert pinned_reference(nginx, digest) == f"{nginx}@{digest}"
    assert pinned_reference("nginx:1.27", "") == "nginx:1.27"  # no digest known: as it was named
