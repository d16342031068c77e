"""Deployments and revisions: list them, cancel a deployment, roll back to a revision."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError
from yun.api.lookups import get_app
from yun.store import events
from yun.store.models import Deployment, Droplet, Revision
from yun.store.quotas import QuotaGuard
from yun.store.releases import Plan, ReleaseError, cancel, release, resume, rollback_revision

router = APIRouter()


class ReleaseOptions(BaseModel):
    """How a new revision reaches a running app."""

    strategy: Literal["rolling", "canary", "blue-green", "recreate"] = "rolling"
    max_in_flight: int = Field(default=1, ge=1, le=100)
    instance_steps: list[int] = Field(default=[10], min_length=1, max_length=10)
    """Canary: the new revision's share of requests at each pause, in percent."""
    keep_old: float = Field(default=60.0, ge=0, le=86400)
    """Blue-green: seconds the old instances stand by after the switch."""

    def plan(self) -> Plan:
        plan = Plan(
            strategy=self.strategy,
            max_in_flight=self.max_in_flight,
            steps=tuple(self.instance_steps),
            keep_seconds=self.keep_old,
        )
        try:
            plan.check()
        except ReleaseError as exc:
            raise ApiError(422, str(exc)) from exc
        return plan


class RollbackBody(ReleaseOptions):
    version: int = Field(ge=1)


def deployment_view(session: Any, deployment: Deployment) -> dict[str, Any]:
    def version(guid: str | None) -> int | None:
        revision = session.get(Revision, guid) if guid else None
        return revision.version if revision else None

    return {
        "guid": deployment.guid,
        "state": deployment.state,
        "strategy": deployment.strategy,
        "from_version": version(deployment.from_revision_guid),
        "version": version(deployment.revision_guid),
        "max_in_flight": deployment.max_in_flight,
        "steps": deployment.steps,
        "step": deployment.step,
        "weight": deployment.weight,
        "keep_seconds": deployment.keep_seconds,
        "progress": deployment.progress,
        "reason": deployment.reason,
        "history": deployment.history,
        "created_at": deployment.created_at,
        "updated_at": deployment.updated_at,
        "created_by": deployment.created_by,
    }


def changes(revision: Revision, before: Revision | None) -> list[str]:
    """What a revision changed against the one before it, in words."""
    if before is None:
        return ["first revision"]
    found = []
    if revision.droplet_guid != before.droplet_guid:
        found.append("droplet")
    keys = sorted(set(revision.env) ^ set(before.env)) + sorted(
        k for k in set(revision.env) & set(before.env) if revision.env[k] != before.env[k]
    )
    if keys:
        found.append("env " + ", ".join(keys))
    if revision.commands != before.commands:
        found.append("commands")
    if revision.services != before.services:
        found.append("services")  # bound, unbound, or their credentials changed
    for kind, now in sorted(revision.processes.items()):
        was = before.processes.get(kind) or {}
        for field, label in (("memory_mb", "memory"), ("disk_mb", "disk")):
            if was.get(field) and now.get(field) and was[field] != now[field]:
                found.append(f"{kind} {label} {was[field]}M → {now[field]}M")
        if was.get("command") != now.get("command") and (was or now.get("command")):
            found.append(f"{kind} command")
    return found or ["nothing (a restart)"]


@router.get("/v3/apps/{guid}/deployments")
def list_deployments(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        rows = session.scalars(
            select(Deployment)
            .where(Deployment.app_guid == app.guid)
            .order_by(Deployment.created_at.desc())
        )
        return {"resources": [deployment_view(session, d) for d in rows]}


def _steer(ctx: Ctx, guid: str, actor: str, move: Callable[..., Deployment]) -> dict[str, Any]:
    """Cancel or continue the app's deployment under way; 409 when there is none to move."""
    with ctx.store.session() as session:
        app = get_app(session, guid)
        try:
            deployment = move(session, app=app, actor=actor)
        except ReleaseError as exc:
            raise ApiError(409, str(exc)) from exc
        session.flush()
        view = deployment_view(session, deployment)
    ctx.wake("deployments")
    return view


@router.post("/v3/apps/{guid}/actions/cancel-deployment")
def cancel_deployment(guid: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    return _steer(ctx, guid, user.name, cancel)


@router.post("/v3/apps/{guid}/actions/continue-deployment")
def continue_deployment(guid: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    return _steer(ctx, guid, user.name, resume)


@router.get("/v3/apps/{guid}/revisions")
def list_revisions(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        revisions = list(
            session.scalars(
                select(Revision).where(Revision.app_guid == app.guid).order_by(Revision.version)
            )
        )
        kept = {d.guid for d in session.scalars(select(Droplet).where(Droplet.app_guid == guid))}
        views = []
        for before, revision in zip([None, *revisions], revisions, strict=False):
            views.append(
                {
                    "guid": revision.guid,
                    "version": revision.version,
                    "description": revision.description,
                    "commit": revision.commit or None,
                    "changes": changes(revision, before),
                    "droplet_guid": revision.droplet_guid,
                    "droplet_kept": revision.droplet_guid in kept,
                    "current": revision.guid == app.revision_guid,
                    "created_at": revision.created_at,
                    "created_by": revision.created_by,
                }
            )
        return {"resources": views[::-1]}


@router.post("/v3/apps/{guid}/actions/rollback")
def rollback(guid: str, body: RollbackBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        if app.revision_guid is None:
            raise ApiError(422, f"app {app.name} has never run; nothing to roll back")
        quotas = QuotaGuard(session, app.space_guid)
        try:
            revision = rollback_revision(session, app=app, version=body.version, actor=user.name)
            deployment = release(
                session,
                app=app,
                revision=revision,
                actor=user.name,
                plan=body.plan(),
                release_command=True,
            )
        except ReleaseError as exc:
            raise ApiError(422, str(exc)) from exc
        quotas.check()
        events.record(
            session,
            type="audit.app.rollback",
            app=app,
            actor=user.name,
            data={"to_version": body.version, "revision": revision.version},
        )
        session.flush()
        result = {
            "revision": revision.version,
            "updated_at": revision.created_at,
            "deployment": deployment_view(session, deployment) if deployment else None,
        }
    for key in ("deployments", "instances", "routes"):
        ctx.wake(key)
    return result
