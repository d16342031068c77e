"""Metrics: `/metrics` for Prometheus, an app's series, and the latest numbers of every app.

`/metrics` takes a user's access token (the series of the spaces they may see; everything and
the platform's own series for an admin) or the metrics-only credential (everything, and no
other call). It lives outside `/v3`, where Prometheus looks, so it checks the token itself.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from yun.api.auth import Bearer, Ctx, current_user
from yun.api.context import ApiContext
from yun.api.errors import ApiError
from yun.api.events import parse_since
from yun.api.lookups import get_app
from yun.api.policy import CallerGrants
from yun.metrics.exposition import CONTENT_TYPE, SampleCollector, render
from yun.metrics.hub import MetricsHub
from yun.metrics.store import Sample
from yun.store.roles import SEE, grants_of, spaces_where

router = APIRouter()
MAX_RANGE = 7 * 86400.0


def _hub(ctx: ApiContext) -> MetricsHub:
    if ctx.metrics is None:
        raise ApiError(404, "this server keeps no metrics")
    return ctx.metrics


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
def prometheus(request: Request, ctx: Ctx, authorization: Bearer) -> Response:
    """Every series in Prometheus' text format (a bearer token or the metrics credential)."""
    hub = _hub(ctx)
    given = authorization.credentials.strip() if authorization else ""
    visible: set[str] | None = None
    if not (given and hmac.compare_digest(given.encode(), hub.credential.encode())):
        user = current_user(request, ctx, authorization)
        if not user.admin:
            with ctx.store.session() as session:
                visible = spaces_where(session, grants_of(session, user), SEE) or set()
    collector = SampleCollector(
        hub.latest(),
        hub.access.totals(),
        None if visible is None else visible.__contains__,
    )
    body = render(collector, hub.instruments if visible is None else None)
    return Response(body, media_type=CONTENT_TYPE)


@router.get("/v3/apps/{guid}/metrics")
def app_metrics(guid: str, ctx: Ctx, since: str = "1h", until: str | None = None) -> dict[str, Any]:
    """The app's series and its instances' since `since` (30m, 2h, 1d or a time; at most 7
    days): ten-second points for the last day, a point a minute before."""
    hub = _hub(ctx)
    now = time.time()
    start = parse_since(since, now)
    end = parse_since(until, now) if until else now
    if end - start > MAX_RANGE:
        raise ApiError(422, "since: at most 7 days of metrics at a time")
    with ctx.store.session() as session:
        get_app(session, guid)
    app = hub.store.read("app", guid, start, end)
    instances: list[dict[str, Any]] = []
    for key in hub.store.keys("instance", app_guid=guid):
        series = hub.store.read("instance", key, start, end)
        if series.points:
            labels = hub.store.labels("instance", key)
            instances.append(
                {
                    "guid": key,
                    "process": labels.get("process", ""),
                    "index": int(labels.get("instance", "0")),
                    "fields": list(series.fields),
                    "points": series.points,
                }
            )
    instances.sort(key=lambda found: (found["process"], found["index"], found["points"][0][0]))
    return {
        "interval": ctx.settings.metrics_interval,
        "since": start,
        "until": end,
        "app": {"fields": list(app.fields), "points": app.points},
        "instances": instances,
    }


@router.get("/v3/metrics/apps")
def latest_app_metrics(ctx: Ctx, grants: CallerGrants) -> dict[str, Any]:
    """The newest sample of every app the caller may see, with its instances' (`yun top`)."""
    hub = _hub(ctx)
    with ctx.store.session() as session:
        visible = spaces_where(session, grants, SEE)
    samples = [s for s in hub.latest() if visible is None or s.labels.get("space_guid") in visible]
    apps = [_view(s) for s in samples if s.kind == "app"]
    by_app: dict[str, list[dict[str, Any]]] = {}
    for sample in samples:
        if sample.kind == "instance":
            by_app.setdefault(sample.labels.get("app_guid", ""), []).append(_view(sample))
    for app in apps:
        app["instances"] = sorted(by_app.get(app["guid"], []), key=lambda i: i["index"])
    return {"interval": ctx.settings.metrics_interval, "resources": apps}


def _view(sample: Sample) -> dict[str, Any]:
    labels = sample.labels
    found: dict[str, Any] = {
        "guid": sample.key,
        "org": labels.get("org", ""),
        "space": labels.get("space", ""),
        "app": labels.get("app", ""),
        **sample.values,
    }
    if sample.kind == "instance":
        found.update(process=labels.get("process", ""), index=int(labels.get("instance", "0")))
        found["state"] = labels.get("state", "")
    return found
