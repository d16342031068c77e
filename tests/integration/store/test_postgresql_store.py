"""The store on a real PostgreSQL server: migrations, bootstrap and the API's writes.

The test starts its own PostgreSQL cluster on a free loopback port (as the `postgres` user when
run as root, since PostgreSQL refuses to run as root) and stops it by pid afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from tests.helpers import postgres_server

from yun.controllers.routing import RouteController
from yun.store.bootstrap import bootstrap
from yun.store.models import App, Domain, Org, Process, Route, RouteMapping, Space, User
from yun.store.session import Store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def test_migrate_and_bootstrap_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    store = Store(postgres_url, key_file=tmp_path / "secret.key")
    try:
        store.migrate()
        store.migrate()  # idempotent
        defaults = bootstrap(store, home=tmp_path, domain="apps.localhost", admin_password="pw")
        again = bootstrap(store, home=tmp_path, domain="apps.localhost", admin_password="pw")
        assert again == defaults
        with store.session() as session:
            assert session.scalar(select(User.name)) == "admin"
            assert session.scalar(select(Org.name)) == "main"
            space = session.get(Space, defaults.space_guid)
            assert space is not None and space.name == "dev"
            session.add(App(name="demo", space_guid=space.guid, env={"A": "1"}, spec={}))
        with store.session() as session:
            app = session.scalar(select(App).where(App.name == "demo"))
            assert app is not None and app.env == {"A": "1"}
            raw = session.execute(text("SELECT env FROM apps")).scalar_one()
            assert raw.startswith("sealed:")  # secrets are sealed on PostgreSQL too
        assert store.rotate_key() >= 2
        with store.session() as session:
            assert session.scalar(select(App.env).where(App.name == "demo")) == {"A": "1"}
    finally:
        store.close()


def test_the_router_table_reads_route_options_on_postgresql(
    postgres_url: str, tmp_path: Path
) -> None:
    """PostgreSQL's driver hands JSON columns over decoded (SQLite's as text): the router's
    table reads route options and autoscaling either way."""
    store = Store(postgres_url, key_file=tmp_path / "secret.key")
    try:
        store.migrate()
        defaults = bootstrap(store, home=tmp_path, domain="apps.localhost", admin_password="pw")
        with store.session() as session:
            domain = session.scalar(select(Domain).where(Domain.internal.is_(False)))
            assert domain is not None
            app = App(name="opts", space_guid=defaults.space_guid, autoscale={"min": 0, "max": 4})
            session.add(app)
            session.flush()
            session.add(Process(app_guid=app.guid, type="web"))
            route = Route(
                host="opts",
                domain_guid=domain.guid,
                space_guid=defaults.space_guid,
                options={"loadbalancing": "least-connection"},
            )
            session.add(route)
            session.flush()
            session.add(RouteMapping(route_guid=route.guid, app_guid=app.guid))
        table = RouteController(store=store, haproxy=None).table()
        (found,) = [r for r in table if r.host == "opts.apps.localhost"]
        assert found.policy.balance == "least-connection"
    finally:
        store.close()
