"""Claiming and releasing TCP routes: ports of the router's `YUN_TCP_PORTS` range, each given to
one app's port by name (Stackato's harbor).

The API (`yun create-route --tcp`) and a manifest's `services: {NAME: harbor}` both come here, so
the rules live in one place: a claim is idempotent (the app's route of that name is returned as
it is), a port is the lowest free one of the range unless one is asked for, and every refusal is
a `TcpRouteError` whose message is one line a user can act on.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yun.store.models import App, TcpRoute

NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9])?$")


class TcpRouteError(ValueError):
    """A TCP route cannot be claimed as asked; the message says why, in one line."""


class TcpPortTaken(TcpRouteError):
    """The port asked for belongs to another route, or the range has no free port left."""


def _variable_key(name: str) -> str:
    """What `STACKATO_HARBOR_<NAME>` makes of a name (see `yun.harbor.harbor_variable`)."""
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def claim_tcp_route(
    session: Session,
    *,
    app: App,
    name: str,
    port: int | None,
    port_range: tuple[int, int],
    process_type: str = "web",
) -> TcpRoute:
    """The app's TCP route called `name`, made if it has none; see the module docstring."""
    if not NAME.match(name):
        raise TcpRouteError(
            f"TCP route name {name!r}: use up to 64 letters, digits, '-', '_' or '.',"
            " starting and ending with a letter or digit"
        )
    low, high = port_range
    own = list(session.scalars(select(TcpRoute).where(TcpRoute.app_guid == app.guid)))
    for route in own:
        if route.name == name:
            if port is not None and port != route.port:
                raise TcpPortTaken(
                    f"app {app.name} already has TCP route {name} on port {route.port};"
                    " delete it first to move it"
                )
            return route
        if _variable_key(route.name) == _variable_key(name):
            raise TcpRouteError(
                f"TCP route name {name!r} gives the same STACKATO_HARBOR_{_variable_key(name)}"
                f" as the app's route {route.name!r}"
            )
    if port is None:
        port = _lowest_free(session, low, high)
    elif not low <= port <= high:
        raise TcpRouteError(f"port {port} is outside the TCP route ports {low}-{high}")
    else:
        holder = session.scalar(select(TcpRoute).where(TcpRoute.port == port))
        if holder is not None:
            other = session.get(App, holder.app_guid)
            owner = f"app {other.name}" if other is not None else "another app"
            raise TcpPortTaken(f"port {port} is taken by {owner} (TCP route {holder.name})")
    route = TcpRoute(
        port=port,
        name=name,
        app_guid=app.guid,
        process_type=process_type,
        space_guid=app.space_guid,
    )
    try:
        with session.begin_nested():  # a concurrent claim of the same port loses here
            session.add(route)
    except IntegrityError:
        raise TcpPortTaken(f"port {port} was just taken by another TCP route; try again") from None
    return route


def _lowest_free(session: Session, low: int, high: int) -> int:
    taken = set(session.scalars(select(TcpRoute.port).where(TcpRoute.port.between(low, high))))
    for port in range(low, high + 1):
        if port not in taken:
            return port
    raise TcpPortTaken(f"no free TCP route port left in {low}-{high} (YUN_TCP_PORTS)")


def release_tcp_route(session: Session, *, app: App, name: str) -> bool:
    """Delete the app's TCP route called `name`; False when it has none."""
    route = session.scalar(
        select(TcpRoute).where(TcpRoute.app_guid == app.guid, TcpRoute.name == name)
    )
    if route is None:
        return False
    session.delete(route)
    session.flush()
    return True
