"""Role assignments, Cloud Foundry's: `yun set-org-role USER ORG ROLE`, `unset-org-role`,
`set-space-role USER ORG SPACE ROLE`, `unset-space-role`, `org-users ORG`, `space-users ORG SPACE`.

Org roles are set by admins and the org's OrgManagers; space roles also by the space's
SpaceManagers. A user given a space role becomes an OrgUser of its org if not already in it
(a space role needs a place in the org), and stays one until their space roles there are gone.
Assigning a role one has, or removing one one has not, changes nothing and succeeds. Every
change is an audit event.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError
from yun.api.scopes import Call, org_named, space_named
from yun.store import events
from yun.store.models import Org, RoleAssignment, Space, User
from yun.store.roles import ORG_ROLES, ORG_USER, SPACE_ROLES, role_name

router = APIRouter()
ORG_PATH = "/v3/organizations/{org}/users/{user}/roles/{role}"
SPACE_PATH = "/v3/organizations/{org}/spaces/{name}/users/{user}/roles/{role}"


def _user(session: Session, name: str) -> User:
    found = session.scalar(select(User).where(User.name == name))
    if found is None:
        raise ApiError(404, f"user {name} not found (see `yun users`)")
    return found


def _role(text: str, allowed: tuple[str, ...], kind: str) -> str:
    role = role_name(text, allowed)
    if role is None:
        raise ApiError(422, f"role: {text} is not {kind} role; give one of {', '.join(allowed)}")
    return role


def _assignment(session: Session, user: User, org: Org, space: Space | None, role: str) -> Any:
    where = (
        RoleAssignment.space_guid == space.guid
        if space is not None
        else RoleAssignment.space_guid.is_(None)
    )
    return session.scalar(
        select(RoleAssignment).where(
            RoleAssignment.user_guid == user.guid,
            RoleAssignment.org_guid == org.guid,
            RoleAssignment.role == role,
            where,
        )
    )


def _members(session: Session, org: Org, space: Space | None) -> list[dict[str, str]]:
    query = select(User.name, RoleAssignment.role).join(
        RoleAssignment, RoleAssignment.user_guid == User.guid
    )
    if space is None:
        query = query.where(
            RoleAssignment.org_guid == org.guid, RoleAssignment.space_guid.is_(None)
        )
    else:
        query = query.where(RoleAssignment.space_guid == space.guid)
    rows = session.execute(query.order_by(RoleAssignment.role, User.name))
    return [{"user": name, "role": role} for name, role in rows]


def _call(org: str, name: str | None = None) -> Call:
    path = {"org": org} if name is None else {"org": org, "name": name}
    return Call(path=path, query={}, body={}, default_space="")


@router.get("/v3/organizations/{org}/users")
def org_users(org: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    """Who has which role in the org (its spaces' roles: `space-users`)."""
    with ctx.store.session() as session:
        found = org_named(session, _call(org))
        return {"org": org, "resources": _members(session, found, None)}


@router.get("/v3/organizations/{org}/spaces/{name}/users")
def space_users(org: str, name: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        owner, space = space_named(session, _call(org, name))
        return {"org": org, "space": name, "resources": _members(session, owner, space)}


@router.put(ORG_PATH)
def set_org_role(org: str, user: str, role: str, ctx: Ctx, caller: CurrentUser) -> dict[str, Any]:
    wanted = _role(role, ORG_ROLES, "an org")
    with ctx.store.session() as session:
        found, member = org_named(session, _call(org)), _user(session, user)
        created = grant(session, member, found, None, wanted, actor=caller.name)
        return {"user": user, "org": org, "role": wanted, "changed": created}


@router.delete(ORG_PATH)
def unset_org_role(org: str, user: str, role: str, ctx: Ctx, caller: CurrentUser) -> dict[str, Any]:
    wanted = _role(role, ORG_ROLES, "an org")
    with ctx.store.session() as session:
        found, member = org_named(session, _call(org)), _user(session, user)
        row = _assignment(session, member, found, None, wanted)
        if row is not None and wanted == ORG_USER:
            held = sorted(
                session.scalars(
                    select(Space.name)
                    .join(RoleAssignment, RoleAssignment.space_guid == Space.guid)
                    .where(RoleAssignment.user_guid == member.guid, Space.org_guid == found.guid)
                    .distinct()
                )
            )
            if held:
                raise ApiError(
                    409,
                    f"{user} has roles in spaces of org {org} ({', '.join(held)});"
                    " unset those first (`yun unset-space-role`)",
                )
        _revoke(session, row, member, found, None, actor=caller.name)
        return {"user": user, "org": org, "role": wanted, "changed": row is not None}


@router.put(SPACE_PATH)
def set_space_role(
    org: str, name: str, user: str, role: str, ctx: Ctx, caller: CurrentUser
) -> dict[str, Any]:
    wanted = _role(role, SPACE_ROLES, "a space")
    with ctx.store.session() as session:
        owner, space = space_named(session, _call(org, name))
        member = _user(session, user)
        in_org = session.scalar(
            select(RoleAssignment).where(
                RoleAssignment.user_guid == member.guid,
                RoleAssignment.org_guid == owner.guid,
                RoleAssignment.space_guid.is_(None),
            )
        )
        joined = in_org is None and grant(session, member, owner, None, ORG_USER, actor=caller.name)
        created = grant(session, member, owner, space, wanted, actor=caller.name)
        return {
            "user": user,
            "org": org,
            "space": name,
            "role": wanted,
            "changed": created,
            "org_user_added": joined,
        }


@router.delete(SPACE_PATH)
def unset_space_role(
    org: str, name: str, user: str, role: str, ctx: Ctx, caller: CurrentUser
) -> dict[str, Any]:
    wanted = _role(role, SPACE_ROLES, "a space")
    with ctx.store.session() as session:
        owner, space = space_named(session, _call(org, name))
        member = _user(session, user)
        row = _assignment(session, member, owner, space, wanted)
        _revoke(session, row, member, owner, space, actor=caller.name)
        return {"user": user, "org": org, "space": name, "role": wanted, "changed": row is not None}


def grant(
    session: Session, user: User, org: Org, space: Space | None, role: str, *, actor: str
) -> bool:
    if _assignment(session, user, org, space, role) is not None:
        return False
    session.add(
        RoleAssignment(
            user_guid=user.guid,
            org_guid=org.guid,
            space_guid=space.guid if space else None,
            role=role,
        )
    )
    session.flush()
    _event(session, "audit.role.set", user, org, space, role, actor=actor)
    return True


def _revoke(
    session: Session,
    row: RoleAssignment | None,
    user: User,
    org: Org,
    space: Space | None,
    *,
    actor: str,
) -> None:
    if row is None:
        return
    session.delete(row)
    _event(session, "audit.role.unset", user, org, space, row.role, actor=actor)


def _event(
    session: Session,
    type_: str,
    user: User,
    org: Org,
    space: Space | None,
    role: str,
    *,
    actor: str,
) -> None:
    data = {"user": user.name, "org": org.name, "role": role}
    if space is not None:
        data["space"] = space.name
    events.record(
        session,
        type=type_,
        app=None,
        actor=actor,
        data=data,
        space_guid=space.guid if space else "",
    )
