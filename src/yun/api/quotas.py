"""Quotas, Cloud Foundry's: `yun quotas`, `create-quota`, `update-quota`, `delete-quota`
(admins), `set-org-quota` (admins), `set-space-quota` (admins and the org's OrgManagers), and
what `yun org` and `yun space` show of them.

A quota is named limits (a missing one, or -1, is no limit): memory of the started instances
together and of one instance (MB), started instances, routes, managed service instances and
TCP ports. An org and each of its spaces may hold one; a change must fit both. A quota in use
is not deleted.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError
from yun.api.scopes import Call, org_named, space_named
from yun.store import events
from yun.store.models import Org, Quota, Space
from yun.store.quotas import LIMITS, held_by, usage

router = APIRouter()
UNLIMITED = -1


class Limits(BaseModel):
    model_config = ConfigDict(strict=True)  # a number, not `true` or "5"

    memory_mb: int | None = Field(default=None, ge=-1, description="MB; -1: no limit")
    instance_memory_mb: int | None = Field(default=None, ge=-1, description="MB; -1: no limit")
    instances: int | None = Field(default=None, ge=-1)
    routes: int | None = Field(default=None, ge=-1)
    services: int | None = Field(default=None, ge=-1)
    tcp_ports: int | None = Field(default=None, ge=-1)


class NewQuota(Limits):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class QuotaChoice(BaseModel):
    quota: str | None = Field(default=None, description="A quota's name; null: none")


def quota_view(quota: Quota) -> dict[str, Any]:
    return {"guid": quota.guid, "name": quota.name, **{k: getattr(quota, k) for k in LIMITS}}


def find_quota(session: Session, name: str) -> Quota:
    quota = session.scalar(select(Quota).where(Quota.name == name))
    if quota is None:
        raise ApiError(404, f"quota {name} not found (see `yun quotas`)")
    return quota


def _set_limits(quota: Quota, limits: Limits, *, given_only: bool) -> None:
    for name in LIMITS:
        value = getattr(limits, name)
        if value is None and given_only:
            continue
        setattr(quota, name, None if value in (None, UNLIMITED) else value)


def held_view(session: Session, space: Space) -> list[dict[str, Any]]:
    """The quotas `space` is held to (its own, its org's), with what is in use of each."""
    return [
        {"where": h.where, **quota_view(h.quota), "used": usage(session, h.space_guids).as_dict()}
        for h in held_by(session, space)
    ]


@router.get("/v3/quotas")
def list_quotas(ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        quotas = session.scalars(select(Quota).order_by(Quota.name))
        return {"resources": [quota_view(q) for q in quotas]}


@router.post("/v3/quotas", status_code=201)
def create_quota(body: NewQuota, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        if session.scalar(select(Quota).where(Quota.name == body.name)) is not None:
            raise ApiError(409, f"quota {body.name} already exists")
        quota = Quota(name=body.name)
        _set_limits(quota, body, given_only=False)
        session.add(quota)
        session.flush()
        view = quota_view(quota)
        events.record(session, type="audit.quota.create", app=None, actor=user.name, data=view)
        return view


@router.patch("/v3/quotas/{name}")
def update_quota(name: str, body: Limits, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """Change the limits given (-1: no limit); what is in use already stays."""
    with ctx.store.session() as session:
        quota = find_quota(session, name)
        _set_limits(quota, body, given_only=True)
        session.flush()
        view = quota_view(quota)
        events.record(session, type="audit.quota.update", app=None, actor=user.name, data=view)
        return view


@router.delete("/v3/quotas/{name}")
def delete_quota(name: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        quota = find_quota(session, name)
        orgs = list(session.scalars(select(Org.name).where(Org.quota_guid == quota.guid)))
        spaces = list(session.scalars(select(Space.name).where(Space.quota_guid == quota.guid)))
        if orgs or spaces:
            holders = [f"org {o}" for o in sorted(orgs)] + [f"space {s}" for s in sorted(spaces)]
            raise ApiError(409, f"quota {name} is held by {', '.join(holders)}; unset it first")
        session.delete(quota)
        events.record(
            session, type="audit.quota.delete", app=None, actor=user.name, data={"name": name}
        )
        return {"deleted": name}


def _choose(session: Session, choice: QuotaChoice) -> Quota | None:
    """The quota the body names (a 422, not a 404: the org or space in the path is there)."""
    if not choice.quota:
        return None
    quota = session.scalar(select(Quota).where(Quota.name == choice.quota))
    if quota is None:
        raise ApiError(422, f"quota: {choice.quota} not found (see `yun quotas`)")
    return quota


@router.put("/v3/organizations/{name}/quota")
def set_org_quota(name: str, body: QuotaChoice, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        org = org_named(session, Call({"name": name}, {}, {}, ""))
        quota = _choose(session, body)
        org.quota_guid = quota.guid if quota else None
        events.record(
            session,
            type="audit.org.quota",
            app=None,
            actor=user.name,
            data={"org": name, "quota": body.quota},
        )
        return {"org": name, "quota": body.quota}


@router.put("/v3/organizations/{org}/spaces/{name}/quota")
def set_space_quota(
    org: str, name: str, body: QuotaChoice, ctx: Ctx, user: CurrentUser
) -> dict[str, Any]:
    with ctx.store.session() as session:
        _, space = space_named(session, Call({"org": org, "name": name}, {}, {}, ""))
        quota = _choose(session, body)
        space.quota_guid = quota.guid if quota else None
        events.record(
            session,
            type="audit.space.quota",
            app=None,
            actor=user.name,
            data={"org": org, "space": name, "quota": body.quota},
            space_guid=space.guid,
        )
        return {"org": org, "space": name, "quota": body.quota}
