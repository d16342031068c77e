"""Audit events: who did what to which app, when, from where, and how it ended.

An event recorded while the API serves a request carries that request's client address and id
(`within_request` sets them for the request's context) and, unless told otherwise, the
outcome `success`; events the platform records on its own carry neither.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Delete, delete, select
from sqlalchemy.orm import Session

from yun.store.models import App, Event, ServiceInstance


@dataclass(frozen=True)
class RequestInfo:
    address: str
    request_id: str


_REQUEST: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "yun_request", default=None
)


@contextmanager
def within_request(address: str, request_id: str) -> Iterator[None]:
    token = _REQUEST.set(RequestInfo(address, request_id))
    try:
        yield
    finally:
        _REQUEST.reset(token)


SECRET_KEYS = frozenset({"env", "credentials", "parameters", "password", "docker_password"})
REDACTED = "[redacted]"


def redact(data: Any) -> Any:
    """`data` with the values under secret keys (an app's `env`, credentials, parameters,
    passwords) replaced: an event names what changed, never the secret."""
    if isinstance(data, dict):
        return {
            key: _hidden(value) if str(key).lower() in SECRET_KEYS else redact(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [redact(item) for item in data]
    return data


def _hidden(value: Any) -> Any:
    if isinstance(value, dict):  # keep the names: which variables, not their values
        return redact_values(value)
    return REDACTED if value not in (None, "", [], {}) else value


def redact_values(secrets: dict[str, Any]) -> dict[str, str]:
    """`secrets`' names, each with its value hidden (for whom may not read them)."""
    return {str(key): REDACTED for key in secrets}


def _stamp(event: Event, outcome: str | None) -> Event:
    info = _REQUEST.get()
    if info is not None:
        event.address, event.request_id = info.address, info.request_id
    event.outcome = outcome if outcome is not None else ("success" if info else "")
    return event


def record(
    session: Session,
    *,
    type: str,
    app: App | None,
    actor: str = "yun",
    data: dict[str, Any] | None = None,
    outcome: str | None = None,
    space_guid: str = "",
) -> Event:
    """An event about `app` (and its space), or about the platform (in `space_guid`, if any)."""
    event = Event(
        type=type,
        actor=actor,
        actee_guid=app.guid if app else "",
        actee_name=app.name if app else "",
        space_guid=app.space_guid if app else space_guid,
        data=redact(data or {}),
    )
    session.add(_stamp(event, outcome))
    return event


def for_app(session: Session, app_guid: str, limit: int = 50) -> list[Event]:
    query = (
        select(Event)
        .where(Event.actee_guid == app_guid)
        .order_by(Event.created_at.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def record_service(
    session: Session,
    *,
    type: str,
    instance: ServiceInstance,
    actor: str = "yun",
    data: dict[str, Any] | None = None,
) -> Event:
    event = Event(
        type=type,
        actor=actor,
        actee_guid=instance.guid,
        actee_type="service_instance",
        actee_name=instance.name,
        space_guid=instance.space_guid,
        data=redact(data or {}),
    )
    session.add(_stamp(event, None))
    return event


def search(
    session: Session,
    *,
    actor: str | None = None,
    space_guid: str | None = None,
    type_prefix: str | None = None,
    since: float | None = None,
    limit: int = 100,
    within: set[str] | None = None,
) -> list[Event]:
    """The newest events matching every filter given (`type_prefix`: `audit.login` matches
    `audit.login.failure` too), of the spaces `within` if given."""
    query = select(Event).order_by(Event.created_at.desc()).limit(limit)
    if within is not None:
        query = query.where(Event.space_guid.in_(within))
    if actor:
        query = query.where(Event.actor == actor)
    if space_guid:
        query = query.where(Event.space_guid == space_guid)
    if type_prefix:
        query = query.where(
            (Event.type == type_prefix) | Event.type.startswith(type_prefix.rstrip(".") + ".")
        )
    if since is not None:
        query = query.where(Event.created_at >= since)
    return list(session.scalars(query))


def prune(session: Session, *, max_age: float, max_count: int, now: float | None = None) -> int:
    """Delete events older than `max_age` seconds and all but the newest `max_count`."""
    now = time.time() if now is None else now
    gone = _deleted(session, delete(Event).where(Event.created_at < now - max_age))
    cutoff = session.scalar(
        select(Event.created_at).order_by(Event.created_at.desc()).offset(max_count).limit(1)
    )
    if cutoff is not None:
        gone += _deleted(session, delete(Event).where(Event.created_at <= cutoff))
    return gone


def _deleted(session: Session, statement: Delete) -> int:
    result = session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)
