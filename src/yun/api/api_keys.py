"""API keys of a route and their plans (`yun create-api-plan`, `create-api-key`, `api-keys`).

A plan names what its keys may do: `rate_limit` (N requests per PERIOD, counted as they are
sent) and `quota` (N requests served per PERIOD, at most a day), in fixed windows. A key is a
random token shown once, when made; the platform keeps its SHA-256, which the router's key map
holds under the route (`yun.router.key_entry`). Keys are checked once the route has the option
`api_keys=true`; without a key, with a wrong one or another route's, clients get 401. What a
key used in its current windows is read from the router's counters (`ApiContext.key_counts`).
Changes wake the route controller, which changes the key map at run time, without a reload.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import Any, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError, not_found
from yun.api.lookups import get_route
from yun.gateway import parse_rate, rate_text
from yun.store import events
from yun.store.models import ApiKey, ApiPlan, Route

router = APIRouter()
KEY_PREFIX = "yun_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class PlanBody(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    rate_limit: str = Field(default="", max_length=32)
    quota: str = Field(default="", max_length=32)


class KeyBody(BaseModel):
    name: str = Field(default="", max_length=64)
    plan: str = Field(default="", max_length=64)


def new_key() -> str:
    """A key as clients send it: `yun_` and 43 URL-safe characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _name(text: str, what: str) -> str:
    if not _NAME.match(text):
        raise ApiError(422, f"{what}: {text!r} is not a name (letters, digits, - _ ., at most 64)")
    return text


Row = TypeVar("Row", ApiPlan, ApiKey)


def _named(session: Session, model: type[Row], route_guid: str, name: str) -> Row | None:
    """The route's plan or key called `name`."""
    query = select(model).where(model.route_guid == route_guid, model.name == name)
    return session.scalars(query).first()


def _limit(text: str, field: str) -> tuple[int, int]:
    """`N/PERIOD` → (N, window seconds); "" → no limit (0, 1)."""
    if not text.strip():
        return 0, 1
    try:
        return parse_rate(text)
    except ValueError as exc:
        raise ApiError(422, f"{field}: {exc}") from None


def plan_view(plan: ApiPlan, keys: int = 0) -> dict[str, Any]:
    return {
        "guid": plan.guid,
        "name": plan.name,
        "rate_limit": rate_text(plan.rate_limit, plan.rate_window) if plan.rate_limit else "",
        "quota": rate_text(plan.quota, plan.quota_window) if plan.quota else "",
        "keys": keys,
    }


def _usage(counts: dict[str, int], key: ApiKey, plan: ApiPlan | None, now: float) -> dict[str, Any]:
    """What the key used in its plan's current windows, and when they end."""
    usage: dict[str, Any] = {}
    if plan is None:
        return usage
    for kind, limit, window in (
        ("rate", plan.rate_limit, plan.rate_window),
        ("quota", plan.quota, plan.quota_window),
    ):
        if limit:
            index = int(now) // window
            usage[kind] = {
                "used": counts.get(f"{index}/{kind[0]}/{key.digest}", 0),
                "limit": limit,
                "resets_in": window - int(now) % window,
            }
    return usage


def key_view(
    key: ApiKey, plan: ApiPlan | None, counts: dict[str, int] | None = None
) -> dict[str, Any]:
    return {
        "guid": key.guid,
        "name": key.name,
        "prefix": key.prefix,
        "plan": plan.name if plan else "",
        "created_by": key.created_by,
        "created_at": key.created_at,
        "usage": _usage(counts or {}, key, plan, time.time()),
    }


@router.get("/v3/routes/{guid}/api_plans")
def list_plans(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        get_route(session, guid)
        used = dict(
            session.execute(
                select(ApiKey.plan_guid, func.count())
                .where(ApiKey.route_guid == guid)
                .group_by(ApiKey.plan_guid)
            ).all()
        )
        plans = session.scalars(
            select(ApiPlan).where(ApiPlan.route_guid == guid).order_by(ApiPlan.name)
        )
        return {"resources": [plan_view(plan, used.get(plan.guid, 0)) for plan in plans]}


@router.post("/v3/routes/{guid}/api_plans", status_code=201)
def create_plan(guid: str, body: PlanBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """A plan; one of the same name is changed (its keys follow it at once)."""
    name = _name(body.name, "name")
    rate, rate_window = _limit(body.rate_limit, "rate_limit")
    quota, quota_window = _limit(body.quota, "quota")
    if not quota:
        quota_window = 86400
    with ctx.store.session() as session:
        route = get_route(session, guid)
        plan = _named(session, ApiPlan, guid, name)
        if plan is None:
            plan = ApiPlan(route_guid=route.guid, name=name)
            session.add(plan)
        plan.rate_limit, plan.rate_window = rate, rate_window
        plan.quota, plan.quota_window = quota, quota_window
        session.flush()
        view = plan_view(plan)
        _audit(session, route, user.name, "audit.api_plan.update", {"plan": view})
    ctx.wake("routes")
    return view


@router.delete("/v3/routes/{guid}/api_plans/{name}")
def delete_plan(guid: str, name: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        route = get_route(session, guid)
        plan = _named(session, ApiPlan, guid, name)
        if plan is None:
            raise not_found(f"plan {name}")
        keys = session.scalar(select(func.count()).where(ApiKey.plan_guid == plan.guid)) or 0
        if keys:
            raise ApiError(
                422, f"plan {name} has {keys} key(s): delete them or give them another plan first"
            )
        view = plan_view(plan)
        session.delete(plan)
        _audit(session, route, user.name, "audit.api_plan.delete", {"plan": name})
    return view


@router.get("/v3/routes/{guid}/api_keys")
def list_keys(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    """The route's keys (never the keys themselves), with what each used in its windows."""
    with ctx.store.session() as session:
        get_route(session, guid)
        rows = session.execute(
            select(ApiKey, ApiPlan)
            .outerjoin(ApiPlan, ApiPlan.guid == ApiKey.plan_guid)
            .where(ApiKey.route_guid == guid)
            .order_by(ApiKey.name)
        ).all()
        counts = _counts(ctx, guid) if rows else {}
        return {"resources": [key_view(key, plan, counts) for key, plan in rows]}


@router.post("/v3/routes/{guid}/api_keys", status_code=201)
def create_key(guid: str, body: KeyBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """A new key on `plan` (none: no limits); the answer holds the key, the only time."""
    with ctx.store.session() as session:
        route = get_route(session, guid)
        plan = None
        if body.plan:
            plan = _named(session, ApiPlan, guid, body.plan)
            if plan is None:
                raise ApiError(
                    422, f"plan: this route has no plan {body.plan!r} (yun create-api-plan)"
                )
        count = session.scalar(select(func.count()).where(ApiKey.route_guid == guid)) or 0
        name = _name(body.name or f"key-{count + 1}", "name")
        if _named(session, ApiKey, guid, name) is not None:
            raise ApiError(409, f"this route already has a key named {name}")
        secret = new_key()
        key = ApiKey(
            route_guid=route.guid,
            plan_guid=plan.guid if plan else None,
            name=name,
            digest=digest(secret),
            prefix=secret[: len(KEY_PREFIX) + 6],
            created_by=user.name,
        )
        session.add(key)
        session.flush()
        view = {**key_view(key, plan), "key": secret}
        data = {"key": name, "plan": view["plan"]}
        _audit(session, route, user.name, "audit.api_key.create", data)
    ctx.wake("routes")
    return view


@router.delete("/v3/routes/{guid}/api_keys/{name}")
def delete_key(guid: str, name: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        route = get_route(session, guid)
        key = _named(session, ApiKey, guid, name)
        if key is None:
            raise not_found(f"API key {name}")
        plan = session.get(ApiPlan, key.plan_guid) if key.plan_guid else None
        view = key_view(key, plan)
        session.delete(key)
        _audit(session, route, user.name, "audit.api_key.delete", {"key": name})
    ctx.wake("routes")
    return view


def _counts(ctx: Any, route_guid: str) -> dict[str, int]:
    """The router's counters of the route's keys ({} when the router cannot tell)."""
    if ctx.key_counts is None:
        return {}
    try:
        counts: dict[str, int] = ctx.key_counts(route_guid)
    except Exception:  # the router restarting: no usage this time
        return {}
    return counts


def _audit(session: Session, route: Route, actor: str, type: str, data: dict[str, Any]) -> None:
    events.record(
        session,
        type=type,
        app=None,
        actor=actor,
        data={"route": route.guid, **data},
        space_guid=route.space_guid,
    )
