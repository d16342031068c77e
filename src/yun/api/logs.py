"""Logs and events of an app: recent lines, a live NDJSON stream, and the audit trail."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from yun.api.auth import Ctx, CurrentUser
from yun.api.lookups import get_app
from yun.api.views import event_view
from yun.store import events
from yun.store.models import Build

router = APIRouter()


@router.get("/v3/apps/{guid}/logs")
def recent_logs(guid: str, ctx: Ctx, _user: CurrentUser, limit: int = 1000) -> dict[str, Any]:
    with ctx.store.session() as session:
        get_app(session, guid)
    lines = ctx.logs.recent(guid, max(1, min(limit, 10000)))
    return {"lines": [line.to_dict() for line in lines], "offset": ctx.logs.end_offset(guid)}


@router.get("/v3/apps/{guid}/logs/stream")
def stream_logs(
    guid: str,
    ctx: Ctx,
    _user: CurrentUser,
    offset: int = -1,
    build: str | None = None,
    max_seconds: float = 3600.0,
) -> StreamingResponse:
    """NDJSON lines from `offset` (-1 = from now); with `build`, ends when that build ends."""
    with ctx.store.session() as session:
        get_app(session, guid)
    start = ctx.logs.end_offset(guid) if offset < 0 else offset

    def build_done() -> dict[str, Any] | None:
        if build is None:
            return None
        with ctx.store.session() as session:
            row = session.get(Build, build)
            if row is None:
                return {"state": "FAILED", "error": "build was deleted"}
            if row.state == "STAGING":
                return None
            return {"state": row.state, "error": row.error, "droplet_guid": row.droplet_guid}

    def generate() -> Iterator[bytes]:
        position = start
        deadline = time.monotonic() + max_seconds
        idle = 0.0
        while time.monotonic() < deadline:
            done = build_done()
            lines, position = ctx.logs.read(guid, position)
            for line in lines:
                yield (json.dumps(line.to_dict()) + "\n").encode()
            if done is not None:
                yield (json.dumps({"build": done}) + "\n").encode()
                return
            if not lines:
                time.sleep(0.1)
                idle += 0.1
                if idle >= 15:
                    idle = 0.0
                    yield b"{}\n"
            else:
                idle = 0.0

    return StreamingResponse(generate(), media_type="application/x-ndjson")


@router.get("/v3/apps/{guid}/events")
def app_events(guid: str, ctx: Ctx, _user: CurrentUser, limit: int = 50) -> dict[str, Any]:
    with ctx.store.session() as session:
        get_app(session, guid)
        rows = events.for_app(session, guid, max(1, min(limit, 1000)))
        return {"resources": [event_view(e) for e in rows]}
