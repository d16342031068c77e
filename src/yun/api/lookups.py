"""Finding the rows a request names, or a 404 that says which one is missing."""

from __future__ import annotations

from sqlalchemy.orm import Session

from yun.api.errors import not_found
from yun.store.models import App, Route


def get_app(session: Session, guid: str) -> App:
    app = session.get(App, guid)
    if app is None:
        raise not_found(f"app {guid}")
    return app


def get_route(session: Session, guid: str) -> Route:
    route = session.get(Route, guid)
    if route is None:
        raise not_found(f"route {guid}")
    return route
