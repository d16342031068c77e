"""Apps: push (apply a manifest application), list, show, start/stop/restart, scale, env, delete."""

from __future__ import annotations

import shutil
import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.applying import apply_spec
from yun.api.auth import Ctx, CurrentUser
from yun.api.context import ApiContext
from yun.api.deployments import ReleaseOptions
from yun.api.errors import ApiError, not_found
from yun.api.lookups import get_app
from yun.api.runtimes import check_runtime
from yun.api.service_applying import apply_services
from yun.api.views import app_view
from yun.manifest import ManifestError, parse_application
from yun.store import events
from yun.store.models import App, Build, Process, Revision, Route, RouteMapping, Space
from yun.store.quotas import QuotaGuard
from yun.store.releases import active_deployment, next_revision, release
from yun.store.schedules import ScheduleError, sync_manifest
from yun.store.services import release_app_bindings

router = APIRouter()


class PushBody(BaseModel):
    application: dict[str, Any]
    source: str = "request"
    index: int = 0
    space_guid: str | None = None
    start: bool = True
    """Whether the app starts once staged (its quotas are checked as if it had)."""


class ScaleBody(BaseModel):
    instances: int | None = Field(default=None, ge=0, le=500)
    memory_mb: int | None = Field(default=None, ge=16, le=65536)
    disk_mb: int | None = Field(default=None, ge=16, le=1048576)


@router.get("/v3/apps")
def list_apps(
    ctx: Ctx, _user: CurrentUser, name: str | None = None, space_guid: str | None = None
) -> dict[str, Any]:
    with ctx.store.snapshot() as session:
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
        space = session.get(Space, space_guid)
        if space is None:
            raise not_found(f"space {space_guid}")
        if spec.runtime is not None:
            check_runtime(ctx, space, spec.runtime, field=f"{spec.name}: runtime")
        quotas = QuotaGuard(session, space_guid)
        app, created = apply_spec(session, space_guid=space_guid, spec=spec)
        services = apply_services(
            session, app=app, spec=spec, tcp_ports=ctx.settings.tcp_ports, actor=user.name
        )
        quotas.check(starting=app.guid if body.start else None)
        if spec.cron is not None:
            try:
                sync_manifest(session, app=app, jobs=spec.cron, actor=user.name, now=time.time())
            except ScheduleError as exc:
                raise ApiError(exc.status, str(exc)) from exc
        events.record(
            session,
            type="audit.app.create" if created else "audit.app.update",
            app=app,
            actor=user.name,
            data={"manifest": spec.to_dict()},
        )
        session.flush()
        view = app_view(session, app)
        view["pending_bindings"] = services.bindings
    for guid in services.created:
        ctx.wake(f"services:{guid}")
    for guid in services.bindings:
        ctx.wake(f"bindings:{guid}")
    ctx.wake("routes")
    ctx.wake("instances")
    if spec.cron is not None:
        ctx.wake("cron")
    return view


@router.get("/v3/apps/{guid}")
def show_app(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.snapshot() as session:  # the app, its processes and instances of one commit
        return app_view(session, get_app(session, guid), usage=ctx.usage)


def _set_state(
    ctx: Ctx,
    guid: str,
    state: str,
    actor: str,
    *,
    restart: bool = False,
    options: ReleaseOptions | None = None,
) -> Any:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        quotas = QuotaGuard(session, app.space_guid)
        if state == "STARTED":
            if app.revision_guid is None and app.droplet_guid is None:
                raise ApiError(
                    422, f"app {app.name} has no staged droplet yet; run `yun push` first"
                )
            quotas.check(starting=app.guid)
            # A restart always brings new instances; a start picks up what changed meanwhile.
            revision = next_revision(
                session,
                app=app,
                actor=actor,
                description="restart" if restart else "start",
                always=restart,
            )
            assert revision is not None
            plan = (options or ReleaseOptions()).plan()
            deployment = release(
                session, app=app, revision=revision, actor=actor, plan=plan, release_command=True
            )
        else:
            deployment = None
        app.state = state
        kind = "restart" if restart else ("start" if state == "STARTED" else "stop")
        events.record(session, type=f"audit.app.{kind}", app=app, actor=actor)
        session.flush()
        view = app_view(session, app)
        view["deployment"] = deployment.guid if deployment else None
    for key in ("deployments", "instances", "routes"):
        ctx.wake(key)
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
def restart_app(
    guid: str, ctx: Ctx, user: CurrentUser, body: ReleaseOptions | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = _set_state(ctx, guid, "STARTED", user.name, restart=True, options=body)
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
        quotas = QuotaGuard(session, app.space_guid)
        changes: dict[str, Any] = {}
        for field in ("instances", "memory_mb", "disk_mb"):
            value = getattr(body, field)
            if value is not None and value != getattr(proc, field):
                changes[field] = value
                setattr(proc, field, value)
        quotas.check()
        if "instances" in changes and active_deployment(session, app.guid) is not None:
            raise ApiError(
                409,
                f"app {app.name} is being deployed; scale it when the deployment has finished"
                f" (`yun deployments {app.name}`), or cancel it",
            )
        limits = {"memory_mb", "disk_mb"} & set(changes)
        deployment = None
        if limits and app.state == "STARTED" and app.revision_guid is not None:
            # New limits need new instances: a revision, rolled out like any other.
            revision = next_revision(
                session, app=app, actor=user.name, description="scale", always=False
            )
            if revision is not None:
                deployment = release(session, app=app, revision=revision, actor=user.name)
        events.record(
            session,
            type="audit.app.process.scale",
            app=app,
            actor=user.name,
            data={"process_type": type_, **changes},
        )
        session.flush()
        view = app_view(session, app)
        view["deployment"] = deployment.guid if deployment else None
    for key in ("deployments", "instances"):
        ctx.wake(key)
    return view


def is_env_name(key: str) -> bool:
    """Letters, digits and _, not starting with a digit: a name a shell can export."""
    return bool(key) and (key[0].isalpha() or key[0] == "_") and key.replace("_", "a").isalnum()


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
        if not is_env_name(key):
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
        unbind = remove_app(session, get_app(session, guid), actor=user.name)
    after_removal(ctx, [guid], unbind)
    return {"deleted": guid}


def remove_app(session: Session, app: App, *, actor: str) -> list[str]:
    """Delete `app` with its routes no other app uses; the bindings to release (their guids,
    for `after_removal` once committed)."""
    guid = app.guid
    route_guids = [
        m.route_guid
        for m in session.scalars(select(RouteMapping).where(RouteMapping.app_guid == guid))
    ]
    events.record(session, type="audit.app.delete-request", app=app, actor=actor)
    for build in session.scalars(select(Build).where(Build.app_guid == guid)):
        build.start_after = False
    unbind = release_app_bindings(session, guid)
    session.flush()  # the bindings first: the app's delete would cascade to them
    session.delete(app)
    session.flush()
    for route_guid in route_guids:
        still = session.scalar(select(RouteMapping).where(RouteMapping.route_guid == route_guid))
        route = session.get(Route, route_guid)
        if still is None and route is not None:
            session.delete(route)
    return unbind


def after_removal(ctx: ApiContext, app_guids: list[str], unbind: list[str]) -> None:
    """Once apps are deleted: forget their logs and git repositories, stop their instances,
    release bindings."""
    for guid in app_guids:
        ctx.logs.delete(guid)
        shutil.rmtree(ctx.settings.home / "git" / f"{guid}.git", ignore_errors=True)
    ctx.wake("instances")
    ctx.wake("routes")
    for binding_guid in unbind:
        ctx.wake(f"bindings:{binding_guid}")
