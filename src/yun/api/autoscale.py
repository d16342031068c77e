"""An app's autoscaling policy: set it, turn it off, or see it with the recent decisions."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError
from yun.api.lookups import get_app
from yun.api.views import event_view
from yun.store import events
from yun.store.models import App, Event

router = APIRouter()


class AutoscaleBody(BaseModel):
    min: int = Field(ge=0, le=500)
    max: int = Field(ge=1, le=500)
    metric: Literal["cpu", "rps", "concurrency", "p95_ms"]
    target: float = Field(gt=0, le=100000)
    idle: float = Field(default=60.0, ge=1, le=86400)
    """With min 0: seconds without a request before the app goes to zero instances."""

    @model_validator(mode="after")
    def _bounds(self) -> AutoscaleBody:
        if self.max < self.min:
            raise ValueError(f"max: {self.max} is below min {self.min}")
        return self


def _view(session: Any, app: App) -> dict[str, Any]:
    stackato = (app.spec.get("stackato") or {}).get("autoscale") or {}
    decisions = session.scalars(
        select(Event)
        .where(Event.actee_guid == app.guid, Event.type == "app.autoscale")
        .order_by(Event.created_at.desc())
        .limit(10)
    )
    source = "yun" if app.autoscale else ("manifest" if stackato.get("enabled") else None)
    return {
        "policy": dict(app.autoscale) or (dict(stackato) if stackato.get("enabled") else None),
        "source": source,
        "decisions": [event_view(e) for e in decisions],
    }


@router.get("/v3/apps/{guid}/autoscale")
def show_autoscale(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        return _view(session, get_app(session, guid))


@router.put("/v3/apps/{guid}/autoscale")
def set_autoscale(guid: str, body: AutoscaleBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        app.autoscale = body.model_dump()
        events.record(
            session, type="audit.app.autoscale.update", app=app, actor=user.name, data=app.autoscale
        )
        session.flush()
        view = _view(session, app)
    ctx.wake("autoscale")
    return view


@router.delete("/v3/apps/{guid}/autoscale")
def delete_autoscale(guid: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        if not app.autoscale:
            raise ApiError(409, f"app {app.name} has no autoscaling policy set with yun autoscale")
        app.autoscale = {}
        events.record(session, type="audit.app.autoscale.delete", app=app, actor=user.name)
        session.flush()
        return _view(session, app)
