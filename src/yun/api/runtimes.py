"""Container runtimes chosen per space: `yun set-space-runtime ORG SPACE gvisor|runc`.

A space's runtime is what its apps' instances run under from their next revision on (a
restart, a push, a rollback, a scale that makes one): like Cloud Foundry's isolation
segments, a change reaches running apps when they restart, with a rolling deployment rather
than all at once. An app's manifest may ask for a stronger runtime (`runtime: gvisor`) but
never a weaker one than its space's (`store.releases.runtime_of`). On Kubernetes the runtime
becomes the pods' RuntimeClass of that name.

gVisor is refused where this platform cannot run it (the process driver, no runsc built), so
that nothing is set that could only crash.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser
from yun.api.context import ApiContext
from yun.api.errors import ApiError
from yun.api.scopes import Call, space_named
from yun.runtimes import DEFAULT_RUNTIME, RUNTIMES
from yun.store import events
from yun.store.models import App, Revision, Space
from yun.store.releases import pinned_runtime, runtime_of

router = APIRouter()


class RuntimeChoice(BaseModel):
    runtime: str = Field(description=f"One of {', '.join(RUNTIMES)}")


def check_runtime(ctx: ApiContext, space: Space, runtime: str, *, field: str) -> None:
    """Raise a 422 naming `field` when `runtime` is unknown or cannot run in the space."""
    if runtime not in RUNTIMES:
        raise ApiError(422, f"{field}: {runtime!r} is not a runtime; use {' or '.join(RUNTIMES)}")
    why = ctx.runtimes.get(runtime)
    if space.cluster_guid is None and why is not None:
        raise ApiError(422, f"{field}: {runtime} cannot run on this platform: {why}")


@router.put("/v3/organizations/{org}/spaces/{name}/runtime")
def set_space_runtime(
    org: str, name: str, body: RuntimeChoice, ctx: Ctx, user: CurrentUser
) -> dict[str, Any]:
    """Set the runtime the space's apps run under from their next restart; names the apps
    that run under another one until then."""
    with ctx.store.session() as session:
        _, space = space_named(session, Call({"org": org, "name": name}, {}, {}, ""))
        check_runtime(ctx, space, body.runtime, field="runtime")
        before = space.runtime or DEFAULT_RUNTIME
        space.runtime = "" if body.runtime == DEFAULT_RUNTIME else body.runtime
        if before != body.runtime:
            events.record(
                session,
                type="audit.space.runtime",
                app=None,
                actor=user.name,
                data={"org": org, "space": name, "from": before, "to": body.runtime},
                space_guid=space.guid,
            )
        return {
            "org": org,
            "space": name,
            "runtime": body.runtime,
            "apps_to_restart": _apps_to_restart(session, space),
        }


def _apps_to_restart(session: Session, space: Space) -> list[str]:
    """The space's started apps whose instances run under another runtime than they would now."""
    names = []
    query = select(App).where(App.space_guid == space.guid, App.state == "STARTED")
    for app in session.scalars(query.order_by(App.name)):
        revision = session.get(Revision, app.revision_guid) if app.revision_guid else None
        if revision is not None and pinned_runtime(revision) != runtime_of(session, app):
            names.append(app.name)
    return names
