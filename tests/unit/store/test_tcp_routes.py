"""Claiming TCP route ports: the lowest free one, the same route again, and clear refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.store.bootstrap import bootstrap
from yun.store.models import App, TcpRoute
from yun.store.session import Store
from yun.store.tcp_routes import (
    TcpPortTaken,
    TcpRouteError,
    claim_tcp_route,
    release_tcp_route,
)

RANGE = (40000, 40002)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'db'}")
    store.migrate()
    defaults = bootstrap(store, home=tmp_path, domain="apps.localhost", admin_password="x")
    with store.session() as session:
        for name in ("shop", "db"):
            session.add(App(name=name, space_guid=defaults.space_guid, spec={}))
    yield store
    store.close()


def _app(session: Session, name: str) -> App:
    found = session.scalar(select(App).where(App.name == name))
    assert found is not None
    return found


def _claim(store: Store, app: str, name: str = "tcp", port: int | None = None) -> int:
    with store.session() as session:
        route = claim_tcp_route(
            session, app=_app(session, app), name=name, port=port, port_range=RANGE
        )
        return route.port


def test_claims_take_the_lowest_free_port(store: Store) -> None:
    assert _claim(store, "shop") == 40000
    assert _claim(store, "db") == 40001
    with store.session() as session:
        assert release_tcp_route(session, app=_app(session, "shop"), name="tcp")
    assert _claim(store, "shop", "again") == 40000  # a released port is free again


def test_claiming_again_returns_the_same_route(store: Store) -> None:
    first = _claim(store, "shop")
    assert _claim(store, "shop") == first
    assert _claim(store, "shop", port=first) == first
    with store.session() as session:
        assert len(list(session.scalars(select(TcpRoute)))) == 1
        (route,) = session.scalars(select(TcpRoute))
        assert (route.name, route.process_type) == ("tcp", "web")
        assert route.space_guid == _app(session, "shop").space_guid


def test_a_port_of_the_range_may_be_asked_for(store: Store) -> None:
    assert _claim(store, "shop", port=40002) == 40002
    assert _claim(store, "db") == 40000


def test_a_port_taken_by_another_app_is_refused_naming_it(store: Store) -> None:
    _claim(store, "shop", port=40001)
    with pytest.raises(TcpPortTaken, match="port 40001 is taken by app shop"):
        _claim(store, "db", port=40001)


def test_a_port_outside_the_range_is_refused(store: Store) -> None:
    with pytest.raises(TcpRouteError, match=r"port 39999 is outside .* 40000-40002") as raised:
        _claim(store, "shop", port=39999)
    assert not isinstance(raised.value, TcpPortTaken)


def test_an_exhausted_range_is_refused(store: Store) -> None:
    for name in ("a", "b", "c"):
        _claim(store, "shop", name)
    with pytest.raises(TcpPortTaken, match="no free TCP route port left in 40000-40002"):
        _claim(store, "db")


def test_moving_a_route_to_another_port_is_refused(store: Store) -> None:
    _claim(store, "shop")
    with pytest.raises(TcpPortTaken, match="already has TCP route tcp on port 40000"):
        _claim(store, "shop", port=40002)


@pytest.mark.parametrize("name", ["", "has space", "-x", "x" * 65, "a/b"])
def test_names_an_app_cannot_read_are_refused(store: Store, name: str) -> None:
    with pytest.raises(TcpRouteError, match="TCP route name"):
        _claim(store, "shop", name)


def test_names_giving_the_same_variable_are_refused(store: Store) -> None:
    _claim(store, "shop", "my-db")
    with pytest.raises(TcpRouteError, match="STACKATO_HARBOR_MY_DB"):
        _claim(store, "shop", "my_db")


def test_releasing_what_is_not_there_says_so(store: Store) -> None:
    with store.session() as session:
        assert not release_tcp_route(session, app=_app(session, "shop"), name="tcp")
