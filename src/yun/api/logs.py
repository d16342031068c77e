"""Logs and events of an app: recent lines, a live NDJSON stream, and the audit trail."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError
from yun.api.events import parse_since
from yun.api.lookups import get_app
from yun.api.views import event_view
from yun.logstore import LogFilter
from yun.logstore.filters import FilterError, parse_grep, parse_sources
from yun.logstore.tail import Tail, dropped_notice
from yun.store import events
from yun.store.models import Build

router = APIRouter()


def log_filter(
    source: str | None, instance: int | None, since: str | None, grep: str | None
) -> LogFilter:
    """The filter the query names; 422 naming the parameter that is wrong."""
    if instance is not None and instance < 0:
        raise ApiError(422, f"instance: {instance} is not an instance index (0, 1, …)")
    try:
        return LogFilter(
            sources=parse_sources(source) if source else None,
            instance=instance,
            since=parse_since(since, time.time()) if since else None,
            grep=parse_grep(grep) if grep else None,
        )
    except FilterError as exc:
        raise ApiError(422, str(exc)) from None


@router.get("/v3/apps/{guid}/logs")
def recent_logs(
    guid: str,
    ctx: Ctx,
    _user: CurrentUser,
    limit: int = 1000,
    source: str | None = None,
    instance: int | None = None,
    since: str | None = None,
    grep: str | None = None,
) -> dict[str, Any]:
    """The last `limit` lines that pass the filters: `source` (STG, APP, RTR, API, CELL, REL;
    several with commas), `instance` (an index), `since` (30m, 2h, 7d or a time) and `grep` (a
    regular expression the message must contain)."""
    keep = log_filter(source, instance, since, grep)
    with ctx.store.session() as session:
        get_app(session, guid)
    lines = ctx.logs.recent(guid, max(1, min(limit, 10000)), None if keep.everything else keep)
    return {"lines": [line.to_dict() for line in lines], "offset": ctx.logs.end_offset(guid)}


@router.get("/v3/apps/{guid}/logs/stream")
def stream_logs(
    guid: str,
    ctx: Ctx,
    _user: CurrentUser,
    offset: int = -1,
    build: str | None = None,
    max_seconds: float = 3600.0,
    source: str | None = None,
    instance: int | None = None,
    grep: str | None = None,
) -> StreamingResponse:
    """NDJSON lines from `offset` (-1 = from now) that pass the filters (as for the recent
    lines); with `build`, ends when that build ends. A reader that falls behind skips ahead
    and gets a line `{"source": "LOG", "dropped": N, ...}` saying how many lines it missed:
    the app and the platform never wait for a reader."""
    keep = log_filter(source, instance, None, grep)
    with ctx.store.session() as session:
        get_app(session, guid)
    tail = Tail(ctx.logs, guid, None if offset < 0 else offset)

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

    def step() -> tuple[bytes, bool]:
        """What the next read gives to send, and whether it read anything."""
        lines, dropped = tail.read()
        out = [dropped_notice(dropped)] if dropped else []
        out += [line.to_dict() for line in lines if keep(line)]
        return "".join(json.dumps(item) + "\n" for item in out).encode(), bool(lines or dropped)

    def generate() -> Iterator[bytes]:
        with tail:
            deadline = time.monotonic() + max_seconds
            idle = 0.0
            while time.monotonic() < deadline:
                done = build_done()
                data, read = step()
                if data:
                    yield data
                if done is not None:
                    while read:  # what the build wrote before it ended
                        data, read = step()
                        if data:
                            yield data
                    yield (json.dumps({"build": done}) + "\n").encode()
                    return
                if not read:
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
