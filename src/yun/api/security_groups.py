"""Application security groups (`yun create-security-group`, `security-groups`,
`bind-security-group`, ...): where running instances may open connections beyond the bridge.

Admins make, change and bind them (as in Cloud Foundry); anyone logged in may read them, so a
developer can see why a connection is refused. A group applies to the running instances of the
spaces it is bound to, or of every space when it is a running default. The route controller
hands them to the network on its next pass (`controllers/network_policies.py`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError, not_found
from yun.egress import parse_rules
from yun.store import events
from yun.store.models import Org, SecurityGroup, SecurityGroupSpace, Space

router = APIRouter()
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class GroupBody(BaseModel):
    name: str = Field(min_length=1, max_length=255, pattern=NAME_PATTERN)
    rules: list[Any]


class RulesBody(BaseModel):
    rules: list[Any]


def _checked(rules: list[Any]) -> list[Any]:
    try:
        parse_rules(rules)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc
    return rules


def group_view(session: Session, group: SecurityGroup) -> dict[str, Any]:
    spaces = []
    for space, org in session.execute(
        select(Space, Org)
        .join(SecurityGroupSpace, SecurityGroupSpace.space_guid == Space.guid)
        .join(Org, Org.guid == Space.org_guid)
        .where(SecurityGroupSpace.security_group_guid == group.guid)
        .order_by(Org.name, Space.name)
    ):
        spaces.append({"org": org.name, "space": space.name, "space_guid": space.guid})
    return {
        "guid": group.guid,
        "name": group.name,
        "rules": group.rules,
        "running_default": group.running_default,
        "spaces": spaces,
        "created_by": group.created_by,
        "created_at": group.created_at,
    }


def _group(session: Session, name: str) -> SecurityGroup:
    group = session.scalars(select(SecurityGroup).where(SecurityGroup.name == name)).first()
    if group is None:
        raise not_found(f"security group {name} (see `yun security-groups`)")
    return group


def _space(session: Session, org: str, space: str) -> Space:
    found = session.scalars(
        select(Space)
        .join(Org, Org.guid == Space.org_guid)
        .where(Org.name == org, Space.name == space)
    ).first()
    if found is None:
        raise not_found(f"space {space} of org {org}")
    return found


def _audit(session: Session, kind: str, actor: str, data: dict[str, Any]) -> None:
    events.record(session, type=f"audit.security_group.{kind}", app=None, actor=actor, data=data)


@router.get("/v3/security_groups")
def list_groups(ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        rows = session.scalars(select(SecurityGroup).order_by(SecurityGroup.name))
        return {"resources": [group_view(session, row) for row in rows]}


@router.get("/v3/security_groups/{name}")
def show_group(name: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        return group_view(session, _group(session, name))


@router.post("/v3/security_groups", status_code=201)
def create_group(body: GroupBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    rules = _checked(body.rules)
    with ctx.store.session() as session:
        if session.scalars(select(SecurityGroup).where(SecurityGroup.name == body.name)).first():
            raise ApiError(409, f"security group {body.name} already exists")
        group = SecurityGroup(name=body.name, rules=rules, created_by=user.name)
        session.add(group)
        session.flush()
        _audit(session, "create", user.name, {"name": body.name, "rules": rules})
        view = group_view(session, group)
    ctx.wake("routes")
    return view


@router.put("/v3/security_groups/{name}")
def update_group(name: str, body: RulesBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    rules = _checked(body.rules)
    with ctx.store.session() as session:
        group = _group(session, name)
        group.rules = rules
        _audit(session, "update", user.name, {"name": name, "rules": rules})
        session.flush()
        view = group_view(session, group)
    ctx.wake("routes")
    return view


@router.delete("/v3/security_groups/{name}")
def delete_group(name: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        group = _group(session, name)
        view = group_view(session, group)
        session.delete(group)
        _audit(session, "delete", user.name, {"name": name})
    ctx.wake("routes")
    return view


def _binding(session: Session, group: SecurityGroup, space: Space) -> SecurityGroupSpace | None:
    return session.scalars(
        select(SecurityGroupSpace).where(
            SecurityGroupSpace.security_group_guid == group.guid,
            SecurityGroupSpace.space_guid == space.guid,
        )
    ).first()


@router.put("/v3/security_groups/{name}/organizations/{org}/spaces/{space}")
def bind_group(name: str, org: str, space: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        group, found = _group(session, name), _space(session, org, space)
        if _binding(session, group, found) is None:
            session.add(SecurityGroupSpace(security_group_guid=group.guid, space_guid=found.guid))
            _audit(session, "bind", user.name, {"name": name, "org": org, "space": space})
            session.flush()
        view = group_view(session, group)
    ctx.wake("routes")
    return view


@router.delete("/v3/security_groups/{name}/organizations/{org}/spaces/{space}")
def unbind_group(name: str, org: str, space: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        group, found = _group(session, name), _space(session, org, space)
        known = _binding(session, group, found)
        if known is None:
            raise not_found(f"security group {name} is not bound to space {space} of org {org}")
        session.delete(known)
        _audit(session, "unbind", user.name, {"name": name, "org": org, "space": space})
        session.flush()
        view = group_view(session, group)
    ctx.wake("routes")
    return view


@router.put("/v3/security_groups/{name}/running_default")
def bind_running(name: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    return _running(name, ctx, user.name, on=True)


@router.delete("/v3/security_groups/{name}/running_default")
def unbind_running(name: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    return _running(name, ctx, user.name, on=False)


def _running(name: str, ctx: Any, actor: str, *, on: bool) -> dict[str, Any]:
    with ctx.store.session() as session:
        group = _group(session, name)
        if group.running_default != on:
            group.running_default = on
            kind = "bind_running" if on else "unbind_running"
            _audit(session, kind, actor, {"name": name})
            session.flush()
        view = group_view(session, group)
    ctx.wake("routes")
    return view
