"""Internal routes become the names the internal DNS answers: the healthy instances of the
mapped processes, told on every pass of the route controller and never given to the router."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from yun.controllers.discovery import internal_names
from yun.controllers.routing import RouteController
from yun.discovery import Names, Target
from yun.store.bootstrap import bootstrap
from yun.store.models import App, Domain, Instance, Process, Route, RouteMapping
from yun.store.session import Store


class FakeHAProxy:
    def __init__(self) -> None:
        self.routes: list[Any] = []

    def apply(self, routes: Sequence[Any], **_: Any) -> bool:
        self.routes = list(routes)
        return True


def make_world(tmp_path: Path) -> tuple[Store, str]:
    """App `api` (web: instances 0 RUNNING, 1 STARTING, 2 RUNNING but draining, 3 RUNNING)
    mapped to api.apps.internal, app `shop` (web: one RUNNING) to shop.apps.localhost;
    returns (store, web process of api)."""
    store = Store(f"sqlite:///{tmp_path / 'db'}")
    store.migrate()
    defaults = bootstrap(
        store,
        home=tmp_path,
        domain="apps.localhost",
        admin_password="x",
        internal_domain="apps.internal",
    )
    with store.session() as session:
        internal = session.scalars(select(Domain).where(Domain.name == "apps.internal")).one()
        assert internal.internal
        api = App(name="api", space_guid=defaults.space_guid, state="STARTED", spec={})
        shop = App(name="shop", space_guid=defaults.space_guid, state="STARTED", spec={})
        session.add_all([api, shop])
        session.flush()
        web = Process(app_guid=api.guid, type="web", instances=4)
        shop_web = Process(app_guid=shop.guid, type="web", instances=1)
        session.add_all([web, shop_web])
        session.flush()
        for index, state, draining in (
            (0, "RUNNING", None),
            (1, "STARTING", None),
            (2, "RUNNING", 1.0),
            (3, "RUNNING", None),
        ):
            session.add(
                Instance(
                    process_guid=web.guid,
                    app_guid=api.guid,
                    index=index,
                    state=state,
                    address=f"10.244.0.{10 + index}",
                    port=8080,
                    draining_since=draining,
                )
            )
        session.add(
            Instance(
                process_guid=shop_web.guid,
                app_guid=shop.guid,
                index=0,
                state="RUNNING",
                address="10.244.0.30",
                port=8080,
            )
        )
        route = Route(host="api", domain_guid=internal.guid, space_guid=defaults.space_guid)
        session.add(route)
        session.flush()
        session.add(RouteMapping(route_guid=route.guid, app_guid=api.guid))
        public = Route(
            host="shop", domain_guid=defaults.domain_guid, space_guid=defaults.space_guid
        )
        session.add(public)
        session.flush()
        session.add(RouteMapping(route_guid=public.guid, app_guid=shop.guid))
        return store, web.guid


def test_an_internal_route_names_the_healthy_instances_of_its_app(tmp_path: Path) -> None:
    store, _ = make_world(tmp_path)
    zones, names = internal_names(store)
    assert zones == ["apps.internal"]
    assert names == {
        "api.apps.internal": [Target("10.244.0.10", 8080, 0), Target("10.244.0.13", 8080, 3)]
    }


def test_the_route_controller_tells_the_names_and_keeps_them_from_the_router(
    tmp_path: Path,
) -> None:
    store, web = make_world(tmp_path)
    told: list[tuple[list[str], dict[str, Any]]] = []

    def names(zones: Sequence[str], found: Names) -> None:
        told.append((list(zones), dict(found)))

    haproxy = FakeHAProxy()
    controller = RouteController(store=store, haproxy=haproxy, names=names)
    controller.reconcile("routes")
    assert told[-1][1]["api.apps.internal"][0].address == "10.244.0.10"
    assert [route.host for route in haproxy.routes] == ["shop.apps.localhost"]
    with store.session() as session:  # instance 0 stops: the next pass drops it
        for inst in session.scalars(select(Instance).where(Instance.process_guid == web)):
            if inst.index == 0:
                inst.state = "CRASHED"
    controller.reconcile("routes")
    assert told[-1][1] == {"api.apps.internal": [Target("10.244.0.13", 8080, 3)]}


def test_the_internal_domain_is_made_at_the_first_start_only(tmp_path: Path) -> None:
    store, _ = make_world(tmp_path)
    with store.session() as session:
        session.delete(session.scalars(select(Domain).where(Domain.internal.is_(True))).one())
    bootstrap(
        store, home=tmp_path, domain="apps.localhost", admin_password="x",
        internal_domain="apps.internal",
    )  # fmt: skip
    assert internal_names(store) == ([], {})
