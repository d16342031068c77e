"""Apps: push (apply a manifest application), list, show, start/stop/restart, scale, env, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yun.api.applying import apply_spec
from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError, not_found
from yun.api.views import app_view
from yun.manifest import ManifestError, parse_application
from yun.store import events
from yun.store.models import App, Build, Process, Revision, Route, RouteMapping, Space

router = APIRouter()


class PushBody(BaseModel):
    application: dict[str, Any]
    source: str = "request"
    index: int = 0
    space_guid: str | None = None


class ScaleBody(BaseModel):
    instances: int | None = Field(default=None, ge=0, le=500)
    memory_mb: int | None = Field(default=None, ge=16, le=65536)
    disk_mb: int | None = Field(default=None, ge=16, le=1048576)


def get_app(session: Session, guid: str) -> App:
    app = session.get(App, guid)
    if app is None:
        raise not_found(f"app {guid}")
    return app


def new_revision(
    session: Session,
    *,
    app: App,
    droplet_guid: str,
    commands: dict[str, Any],
    description: str,
    actor: str,
) -> Revision:
    version = session.scalar(
        select(func.coalesce(func.max(Revision.version), 0)).where(Revision.app_guid == app.guid)
    )
    revision = Revision(
        app_guid=app.guid,
        version=int(version or 0) + 1,
        droplet_guid=droplet_guid,
        env=dict(app.env),
        commands=commands,
        description=description,
        created_by=actor,
    )
    session.add(revision)
    session.flush()
    app.revision_guid = revision.guid
    return revision


@router.get("/v3/apps")
def list_apps(
    ctx: Ctx, _user: CurrentUser, name: str | None = None, space_guid: str | None = None
) -> dict[str, Any]:
    with ctx.store.session() as session:
        query = select(App).order_by(App.name)
        query = query.where(App.space_guid == (space_guid or ctx.defaults.space_guid))
        if name is not None:
            query = query.where(App.name == name)
        apps = list(session.scalars(query))
        return {"resources": [app_view(session, app, detail=False) for app in apps]}


@router.post("/v3/apps/push")
def push_app(body: PushBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    try:
        spec = parse_application(body.application, source=body.source, index=body.index)
    except ManifestError as exc:
        raise ApiError(422, str(exc)) from exc
    space_guid = body.space_guid or ctx.defaults.space_guid
    with ctx.store.session() as session:
        if session.get(Space, space_guid) is None:
            raise not_found(f"space {space_guid}")
        app, created = apply_spec(session, space_guid=space_guid, spec=spec)
        events.record(
            session,
            type="audit.app.create" if created else "audit.app.update",
            app=app,
            actor=user.name,
            data={"manifest": spec.to_dict()},
        )
        session.flush()
        view = app_view(session, app)
    ctx.wake("routes")
    ctx.wake("instances")
    return view


@router.get("/v3/apps/{guid}")
def show_app(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        return app_view(session, get_app(session, guid), usage=ctx.usage)


def _set_state(ctx: Ctx, guid: str, state: str, actor: str, *, restart: bool = False) -> Any:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        if state == "STARTED" and app.revision_guid is None:
            raise ApiError(422, f"app {app.name} has no staged droplet yet; run `yun push` first")
        if restart:
            old = session.get(Revision, app.revision_guid)
            assert old is not None
            new_revision(
                session,
                app=app,
                droplet_guid=old.droplet_guid,
                commands=old.commands,
                description="restart",
                actor=actor,
            )
        app.state = state
        kind = "restart" if restart else ("start" if state == "STARTED" else "stop")
        events.record(session, type=f"audit.app.{kind}", app=app, actor=actor)
        session.flush()
        view = app_view(session, app)
    ctx.wake("instances")
    ctx.wake("routes")
    return view


@router.post("/v3/apps/{guid}/actions/start")
def start_app(guid: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    result: dict[str, Any] = _set_state(ctx, guid, "STARTED", user.name)
    return result


@router.post("/v3/apps/{guid}/actions/stop")
def stop_app(guid: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    result: dict[str, Any] = _set_state(ctx, guid, "STOPPED", user.name)
    return result


@router.post("/v3/apps/{guid}/actions/restart")
def restart_app(guid: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    result: dict[str, Any] = _set_state(ctx, guid, "STARTED", user.name, restart=True)
    return result


@router.patch("/v3/apps/{guid}/processes/{type_}")
def scale_process(
    guid: str, type_: str, body: ScaleBody, ctx: Ctx, user: CurrentUser
) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        proc = session.scalar(
            select(Process).where(Process.app_guid == app.guid, Process.type == type_)
        )
        if proc is None:
            raise not_found(f"process type {type_!r} of app {app.name}")
        changes: dict[str, Any] = {}
        for field in ("instances", "memory_mb", "disk_mb"):
            value = getattr(body, field)
            if value is not None and value != getattr(proc, field):
                changes[field] = value
                setattr(proc, field, value)
        events.record(
            session,
            type="audit.app.process.scale",
            app=app,
            actor=user.name,
            data={"process_type": type_, **changes},
        )
        session.flush()
        view = app_view(session, app)
    ctx.wake("instances")
    return view


@router.get("/v3/apps/{guid}/env")
def app_env(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        revision = session.get(Revision, app.revision_guid) if app.revision_guid else None
        return {
            "environment_variables": dict(app.env),
            "running": dict(revision.env) if revision else {},
            "pending_restart": revision is not None and revision.env != app.env,
        }


@router.patch("/v3/apps/{guid}/environment_variables")
def update_env(
    guid: str, body: dict[str, str | None], ctx: Ctx, user: CurrentUser
) -> dict[str, Any]:
    for key in body:
        if (
            not key
            or not (key[0].isalpha() or key[0] == "_")
            or not key.replace("_", "a").isalnum()
        ):
            raise ApiError(422, f"environment variable name {key!r} must be letters, digits and _")
    with ctx.store.session() as session:
        app = get_app(session, guid)
        env = dict(app.env)
        for key, value in body.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        app.env = env
        events.record(
            session,
            type="audit.app.update",
            app=app,
            actor=user.name,
            data={"environment_variables": sorted(body)},
        )
        return {"environment_variables": env}


@router.delete("/v3/apps/{guid}")
def delete_app(guid: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        route_guids = [
            m.route_guid
            for m in session.scalars(select(RouteMapping).where(RouteMapping.app_guid == guid))
        ]
        events.record(session, type="audit.app.delete-request", app=app, actor=user.name)
        for build in session.scalars(select(Build).where(Build.app_guid == guid)):
            build.start_after = False
        session.delete(app)
        session.flush()
        for route_guid in route_guids:
            still = session.scalar(
                select(RouteMapping).where(RouteMapping.route_guid == route_guid)
            )
            route = session.get(Route, route_guid)
            if still is None and route is not None:
                session.delete(route)
    ctx.logs.delete(guid)
    ctx.wake("instances")
    ctx.wake("routes")
    return {"deleted": guid}
