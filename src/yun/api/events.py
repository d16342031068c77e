"""The platform's audit trail: `GET /v3/events` with filters (`yun events`): all of it for
admins, the events of the spaces they may see for everyone else."""

from __future__ import annotations

import datetime
import re
import time
from typing import Any

from fastapi import APIRouter

from yun.api.auth import Ctx
from yun.api.errors import ApiError
from yun.api.policy import CallerGrants
from yun.store import events
from yun.store.models import Event
from yun.store.roles import SEE, spaces_where

router = APIRouter()
_DURATION = re.compile(r"(\d+)\s*([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float) -> float:
    """`30m`, `2h`, `7d` (ago) or an ISO 8601 time, as epoch seconds; ApiError otherwise."""
    found = _DURATION.fullmatch(text.strip())
    if found:
        return now - int(found.group(1)) * _UNITS[found.group(2)]
    try:
        when = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ApiError(
            422,
            f"since: {text!r} is not a duration like 30m, 2h, 7d or a time like 2026-12-06T09:00",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp()


def audit_view(event: Event) -> dict[str, Any]:
    return {
        "guid": event.guid,
        "timestamp": event.created_at,
        "type": event.type,
        "actor": event.actor,
        "target": event.actee_name,
        "target_type": event.actee_type if event.actee_guid else "",
        "space_guid": event.space_guid,
        "outcome": event.outcome,
        "address": event.address,
        "request_id": event.request_id,
        "data": event.data,
    }


@router.get("/v3/events")
def list_events(
    ctx: Ctx,
    grants: CallerGrants,
    actor: str | None = None,
    space_guid: str | None = None,
    type: str | None = None,
    since: str | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    if not 1 <= limit <= 10000:
        raise ApiError(422, "limit: give 1 to 10000")
    start = parse_since(since, time.time()) if since else None
    with ctx.store.session() as session:
        rows = events.search(
            session,
            actor=actor,
            space_guid=space_guid,
            type_prefix=type,
            since=start,
            limit=limit,
            within=spaces_where(session, grants, SEE),
        )
        return {"resources": [audit_view(e) for e in rows]}
