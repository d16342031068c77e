"""Users: `yun users`, `yun create-user`, `yun delete-user` (admins), `yun passwd` (anyone, for
themselves), `yun revoke-tokens USER` (admins, or a user for themselves).

A password is at least 8 characters. Changing one ends the user's other sessions; deleting a
user ends all of theirs. The last admin cannot be deleted.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser, client_address
from yun.api.errors import ApiError
from yun.store import events
from yun.store.models import Token, User
from yun.store.passwords import hash_password, verify_password

router = APIRouter()
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,254}$"
MIN_PASSWORD = 8


class NewUser(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, description="Letters, digits and . _ @ + -")
    password: str = Field(min_length=MIN_PASSWORD, max_length=1024)
    admin: bool = False


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=1024)
    password: str = Field(min_length=MIN_PASSWORD, max_length=1024)


def require_admin(user: User, doing: str) -> None:
    if not user.admin:
        raise ApiError(403, f"only an admin may {doing}")


def user_view(user: User) -> dict[str, Any]:
    return {
        "guid": user.guid,
        "name": user.name,
        "admin": user.admin,
        "created_at": user.created_at,
    }


def _named(session: Session, name: str) -> User:
    found = session.scalar(select(User).where(User.name == name))
    if found is None:
        raise ApiError(404, f"user {name} not found (see `yun users`)")
    return found


@router.get("/v3/users")
def list_users(ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        return {
            "resources": [user_view(u) for u in session.scalars(select(User).order_by(User.name))]
        }


@router.post("/v3/users", status_code=201)
def create_user(body: NewUser, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        if session.scalar(select(User).where(User.name == body.name)) is not None:
            raise ApiError(409, f"user {body.name} already exists")
        made = User(name=body.name, password_hash=hash_password(body.password), admin=body.admin)
        session.add(made)
        session.flush()
        events.record(
            session,
            type="audit.user.create",
            app=None,
            actor=user.name,
            data={"user": body.name, "admin": body.admin},
        )
        return user_view(made)


@router.delete("/v3/users/{name}")
def delete_user(name: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        doomed = _named(session, name)
        if doomed.admin:
            admins = session.scalar(select(func.count()).select_from(User).where(User.admin))
            if (admins or 0) <= 1:
                raise ApiError(409, f"{name} is the last admin; make another admin first")
        view = user_view(doomed)
        session.execute(delete(Token).where(Token.user_guid == doomed.guid))
        session.delete(doomed)
        events.record(
            session, type="audit.user.delete", app=None, actor=user.name, data={"user": name}
        )
        return view


@router.put("/v3/users/me/password")
def change_password(
    body: PasswordChange, request: Request, ctx: Ctx, user: CurrentUser
) -> dict[str, Any]:
    """Change the caller's password; their other sessions end (this one goes on)."""
    address = client_address(request)
    wait = ctx.throttle.wait(user.name, address)
    if wait:
        raise ApiError(
            429,
            f"too many wrong passwords; try again in {wait}s",
            headers={"Retry-After": str(wait)},
        )
    with ctx.store.session() as session:
        me = _named(session, user.name)
        good = verify_password(body.current_password, me.password_hash)
        if good:
            me.password_hash = hash_password(body.password)
            ended = _revoke(session, me, keep_session=getattr(request.state, "session_guid", None))
            events.record(
                session,
                type="audit.user.password",
                app=None,
                actor=user.name,
                data={"sessions_ended": ended},
            )
            return {"user": me.name, "sessions_ended": ended}
    ctx.throttle.failed(user.name, address)
    with ctx.store.session() as session:
        events.record(
            session,
            type="audit.user.password_failure",
            app=None,
            actor=user.name,
            outcome="failure",
        )
    raise ApiError(403, "current_password: that is not your password")


@router.delete("/v3/users/{name}/tokens")
def revoke_tokens(name: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """End every session of `name` (admins; anyone for themselves)."""
    if name != user.name:
        require_admin(user, "revoke another user's tokens")
    with ctx.store.session() as session:
        target = _named(session, name)
        ended = _revoke(session, target)
        events.record(
            session,
            type="audit.user.revoke_tokens",
            app=None,
            actor=user.name,
            data={"user": name, "sessions_ended": ended},
        )
        return {"user": name, "sessions_ended": ended}


def _revoke(session: Session, user: User, keep_session: str | None = None) -> int:
    """Delete the user's tokens (but those of session `keep_session`); the sessions ended."""
    tokens = session.scalars(select(Token).where(Token.user_guid == user.guid))
    doomed = [t for t in tokens if not (keep_session and t.session_guid == keep_session)]
    for token in doomed:
        session.delete(token)
    return len({t.session_guid or t.guid for t in doomed})


@router.post("/v3/admin/rotate-key")
def rotate_key(ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """Re-seal every stored secret under a new key; the old key is forgotten (admins)."""
    resealed = ctx.store.rotate_key()
    with ctx.store.session() as session:
        events.record(
            session,
            type="audit.platform.rotate_key",
            app=None,
            actor=user.name,
            data={"values": resealed},
        )
    return {"resealed": resealed}
