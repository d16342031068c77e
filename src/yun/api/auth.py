"""Bearer-token authentication: `POST /v3/auth/token` trades a password for a token.

Tokens are random, stored hashed, and expire; every other endpoint depends on `current_user`.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel
from sqlalchemy import select

from yun.api.context import ApiContext
from yun.api.errors import ApiError
from yun.store.models import Token, User
from yun.store.passwords import hash_token, verify_password

TOKEN_LIFETIME = 30 * 24 * 3600.0

router = APIRouter()


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]


class Credentials(BaseModel):
    username: str
    password: str


@router.post("/v3/auth/token")
def issue_token(body: Credentials, ctx: Ctx) -> dict[str, object]:
    with ctx.store.session() as session:
        user = session.scalar(select(User).where(User.name == body.username))
        if user is None or not verify_password(body.password, user.password_hash):
            raise ApiError(401, "wrong username or password")
        token = secrets.token_urlsafe(32)
        session.add(
            Token(
                token_hash=hash_token(token),
                user_guid=user.guid,
                expires_at=time.time() + TOKEN_LIFETIME,
            )
        )
        return {"access_token": token, "token_type": "bearer", "user": user.name}


def current_user(ctx: Ctx, authorization: Annotated[str | None, Header()] = None) -> User:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(401, "this call needs a bearer token; run `yun login` first")
    token = authorization.split(" ", 1)[1].strip()
    with ctx.store.session() as session:
        row = session.scalar(select(Token).where(Token.token_hash == hash_token(token)))
        if row is None or row.expires_at < time.time():
            raise ApiError(401, "token is invalid or expired; run `yun login` again")
        user = session.get(User, row.user_guid)
        if user is None:
            raise ApiError(401, "token's user no longer exists")
        session.expunge(user)
        return user


CurrentUser = Annotated[User, Depends(current_user)]
