"""Audit events: who did what to which app, when, and how it ended."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.store.models import App, Event, ServiceInstance


def record(
    session: Session,
    *,
    type: str,
    app: App | None,
    actor: str = "yun",
    data: dict[str, Any] | None = None,
) -> Event:
    event = Event(
        type=type,
        actor=actor,
        actee_guid=app.guid if app else "",
        actee_name=app.name if app else "",
        space_guid=app.space_guid if app else "",
        data=data or {},
    )
    session.add(event)
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
        data=data or {},
    )
    session.add(event)
    return event
