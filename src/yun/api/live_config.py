"""Live configuration of apps and spaces (`yun config set|unset|get|list|history|rollback`).

Every change is a new version; running instances get it without a restart (a file replaced
in place and a watch stream, see `controllers/live_config.py`), new instances also as
environment variables. Reading values needs what reading env needs; history shows who changed
which keys when, with the values of secret keys masked; events name keys, never values.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError, not_found
from yun.api.lookups import get_app
from yun.api.orgs import find_org, find_space
from yun.store import events
from yun.store import live_config as config
from yun.store.events import REDACTED
from yun.store.models import App, ConfigVersion, Space

router = APIRouter()
MAX_VALUE = 64 * 1024  # a value, e.g. a file's contents


class ConfigChange(BaseModel):
    values: dict[str, str] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)
    secret: list[str] = Field(default_factory=list)


class Rollback(BaseModel):
    version: int = Field(ge=1)


def _check(body: ConfigChange) -> None:
    for key in (*body.values, *body.unset, *body.secret):
        if (
            not key
            or not (key[0].isalpha() or key[0] == "_")
            or not key.replace("_", "a").isalnum()
        ):
            raise ApiError(422, f"key {key!r}: letters, digits and _, not starting with a digit")
    for key, value in body.values.items():
        if len(value.encode()) > MAX_VALUE:
            raise ApiError(422, f"values.{key}: at most {MAX_VALUE // 1024} KiB")
    unknown = set(body.secret) - set(body.values)
    if unknown:
        raise ApiError(422, f"secret: {sorted(unknown)[0]} is not among the values set")
    if not body.values and not body.unset:
        raise ApiError(422, "values: nothing to set or unset")


def _version_view(row: ConfigVersion | None) -> dict[str, Any]:
    if row is None:
        return {"version": 0, "values": {}, "secret_keys": []}
    return {"version": row.version, "values": dict(row.values), "secret_keys": row.secret_keys}


def _history_view(row: ConfigVersion) -> dict[str, Any]:
    secret = set(row.secret_keys)
    return {
        "version": row.version,
        "action": row.action,
        "keys": row.keys,
        "from_version": row.from_version,
        "values": {k: REDACTED if k in secret else v for k, v in dict(row.values).items()},
        "created_by": row.created_by,
        "created_at": row.created_at,
    }


def _record(session: Session, row: ConfigVersion, actor: str, app: App | None, space: str) -> None:
    events.record(
        session,
        type=f"audit.config.{row.action}",
        app=app,
        actor=actor,
        space_guid=space,
        data={"version": row.version, "keys": row.keys, "from_version": row.from_version},
    )


def _change(
    session: Session, scope: config.Scope, body: ConfigChange, actor: str, app: App | None
) -> dict[str, Any]:
    """Apply the change as a new version (none when nothing changes); the version now."""
    row = config.change(
        session, scope, values=body.values, unset=body.unset, secret=body.secret, actor=actor
    )
    if row is not None:
        _record(session, row, actor, app, app.space_guid if app else scope.guid)
    return {"changed": row is not None, **_version_view(row or config.latest(session, scope.guid))}


def _rollback(
    session: Session, scope: config.Scope, body: Rollback, actor: str, app: App | None, what: str
) -> dict[str, Any]:
    """Make version `body.version` of `scope` (`what` names it in a 404) the new version."""
    try:
        row = config.rollback(session, scope, to=body.version, actor=actor)
    except KeyError:
        raise not_found(f"config version {body.version} of {what}") from None
    _record(session, row, actor, app, app.space_guid if app else scope.guid)
    return _version_view(row)


def _space(session: Session, org: str, name: str) -> Space:
    return find_space(session, find_org(session, org), name)


# -- apps ---------------------------------------------------------------------------------------


@router.get("/v3/apps/{guid}/config")
def app_config(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        now = config.effective(session, app)
        return {
            "version": now.version,
            "values": now.values,
            "app": _version_view(config.latest(session, app.guid)),
            "space": _version_view(config.latest(session, app.space_guid)),
        }


@router.patch("/v3/apps/{guid}/config")
def change_app_config(guid: str, body: ConfigChange, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    _check(body)
    with ctx.store.session() as session:
        app = get_app(session, guid)
        view = _change(session, config.Scope.of_app(app.guid), body, user.name, app)
        view["effective_version"] = config.effective(session, app).version
    ctx.wake("config")
    return view


@router.get("/v3/apps/{guid}/config/history")
def app_config_history(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        return {"resources": [_history_view(row) for row in config.versions(session, app.guid)]}


@router.post("/v3/apps/{guid}/config/rollback")
def rollback_app_config(guid: str, body: Rollback, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        scope = config.Scope.of_app(app.guid)
        view = _rollback(session, scope, body, user.name, app, f"app {app.name}")
    ctx.wake("config")
    return view


# -- spaces -------------------------------------------------------------------------------------

SPACE_PATH = "/v3/organizations/{org}/spaces/{name}/config"


@router.get(SPACE_PATH)
def space_config(org: str, name: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        return _version_view(config.latest(session, _space(session, org, name).guid))


@router.patch(SPACE_PATH)
def change_space_config(
    org: str, name: str, body: ConfigChange, ctx: Ctx, user: CurrentUser
) -> dict[str, Any]:
    _check(body)
    with ctx.store.session() as session:
        space = _space(session, org, name)
        view = _change(session, config.Scope.of_space(space.guid), body, user.name, None)
    ctx.wake("config")
    return view


@router.get(SPACE_PATH + "/history")
def space_config_history(org: str, name: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        space = _space(session, org, name)
        return {"resources": [_history_view(row) for row in config.versions(session, space.guid)]}


@router.post(SPACE_PATH + "/rollback")
def rollback_space_config(
    org: str, name: str, body: Rollback, ctx: Ctx, user: CurrentUser
) -> dict[str, Any]:
    with ctx.store.session() as session:
        space = _space(session, org, name)
        scope = config.Scope.of_space(space.guid)
        view = _rollback(session, scope, body, user.name, None, f"space {name}")
    ctx.wake("config")
    return view
