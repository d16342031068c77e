"""Sessions: `POST /v3/auth/token` trades a password for an access token (minutes) and a
refresh token (30 days); `POST /v3/auth/refresh` trades the refresh token for a new pair (the
old one stops working: rotation); `POST /v3/auth/logout` ends the session.

Tokens are random, stored hashed, and expire; every other endpoint depends on `current_user`,
which takes access tokens only. Failed logins are throttled (`yun.api.throttle`: 429 with
Retry-After) and each is an audit event, as is each login.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from yun.api.context import ApiContext
from yun.api.errors import ApiError
from yun.store import events
from yun.store.models import Token, User, new_guid
from yun.store.passwords import hash_password, hash_token, needs_rehash, verify_password

REFRESH_LIFETIME = 30 * 24 * 3600.0
_DECOY = hash_password(secrets.token_urlsafe(16))  # checked for unknown users: same time taken

router = APIRouter()


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(max_length=1024)


class RefreshBody(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=256)


def issue_pair(session: Session, user: User, ctx: ApiContext, session_guid: str) -> dict[str, Any]:
    """A new access and refresh token for `user` in session `session_guid`."""
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    lifetime = float(ctx.settings.access_token_seconds)
    now = time.time()
    for token, kind, expires in (
        (access, "access", now + lifetime),
        (refresh, "refresh", now + REFRESH_LIFETIME),
    ):
        session.add(
            Token(
                token_hash=hash_token(token),
                user_guid=user.guid,
                expires_at=expires,
                kind=kind,
                session_guid=session_guid,
            )
        )
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "bearer",
        "expires_in": int(lifetime),
        "user": user.name,
        "admin": user.admin,
    }


def _audit(ctx: ApiContext, type_: str, actor: str, data: dict[str, Any], outcome: str) -> None:
    """An event written on its own, so it stays when the request then fails."""
    with ctx.store.session() as session:
        events.record(session, type=type_, app=None, actor=actor, data=data, outcome=outcome)


@router.post("/v3/auth/token")
def issue_token(body: Credentials, request: Request, ctx: Ctx) -> dict[str, Any]:
    address = client_address(request)
    wait = ctx.throttle.wait(body.username, address)
    if wait:
        _audit(ctx, "audit.login.throttled", body.username, {"wait": wait}, "denied")
        raise ApiError(
            429,
            f"too many failed logins for {body.username} from {address}; try again in {wait}s",
            headers={"Retry-After": str(wait)},
        )
    with ctx.store.session() as session:
        user = session.scalar(select(User).where(User.name == body.username))
        good = verify_password(body.password, user.password_hash if user else _DECOY)
        if user is not None and good:
            if needs_rehash(user.password_hash):
                user.password_hash = hash_password(body.password)
            pair = issue_pair(session, user, ctx, new_guid())
            events.record(
                session,
                type="audit.login.success",
                app=None,
                actor=user.name,
            )
            ctx.throttle.succeeded(body.username, address)
            return pair
    ctx.throttle.failed(body.username, address)
    _audit(ctx, "audit.login.failure", body.username, {}, "failure")
    raise ApiError(401, "wrong username or password")


@router.post("/v3/auth/refresh")
def refresh_token(body: RefreshBody, ctx: Ctx) -> dict[str, Any]:
    with ctx.store.session() as session:
        row = session.scalar(
            select(Token).where(
                Token.token_hash == hash_token(body.refresh_token), Token.kind == "refresh"
            )
        )
        user = session.get(User, row.user_guid) if row is not None else None
        if row is None or user is None or row.expires_at < time.time():
            raise ApiError(401, "the session has ended; run `yun login` again")
        session_guid = row.session_guid or new_guid()
        if row.session_guid:  # the session's access tokens go with the refresh token
            session.execute(delete(Token).where(Token.session_guid == row.session_guid))
        else:
            session.delete(row)
        return issue_pair(session, user, ctx, session_guid)


BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An access token from `POST /v3/auth/token` (`yun login`).",
)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


def _bearer(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials.strip():
        raise ApiError(401, "this call needs a bearer token; run `yun login` first")
    return credentials.credentials.strip()


def current_user(request: Request, ctx: Ctx, authorization: Bearer) -> User:
    known = getattr(request.state, "user", None)
    if isinstance(known, User):
        return known  # already found for this call (by the access policy)
    token = _bearer(authorization)
    with ctx.store.session() as session:
        row = session.scalar(select(Token).where(Token.token_hash == hash_token(token)))
        if row is None or row.kind != "access" or row.expires_at < time.time():
            raise ApiError(401, "token is invalid or expired; run `yun login` again")
        user = session.get(User, row.user_guid)
        if user is None:
            raise ApiError(401, "token's user no longer exists")
        request.state.session_guid = row.session_guid  # which login this call belongs to
        request.state.user_name = user.name  # the actor of this call's audit event
        session.expunge(user)
        request.state.user = user
        return user


CurrentUser = Annotated[User, Depends(current_user)]


@router.post("/v3/auth/logout")
def logout(ctx: Ctx, user: CurrentUser, authorization: Bearer) -> dict[str, Any]:
    """End the caller's session: its access and refresh tokens stop working."""
    with ctx.store.session() as session:
        row = session.scalar(
            select(Token).where(Token.token_hash == hash_token(_bearer(authorization)))
        )
        revoked = 0
        if row is not None:
            same = Token.session_guid == row.session_guid if row.session_guid else None
            doomed = list(session.scalars(select(Token).where(same))) if same is not None else [row]
            for token in doomed:  # (a token from before sessions existed is alone)
                session.delete(token)
            revoked = len(doomed)
        events.record(session, type="audit.logout", app=None, actor=user.name, data={})
    return {"revoked": revoked}
