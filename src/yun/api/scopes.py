"""Where an API call acts: the org and space that the access policy weighs the caller's roles
in, found from the call's path, query or body.

Each target raises the same 404 as its handler would when the row is missing, so that a caller
who may not see a resource cannot tell it from one that is not there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.errors import ApiError, not_found
from yun.store.models import (
    App,
    Build,
    NetworkPolicy,
    Org,
    Package,
    Pipeline,
    Route,
    ServiceBackup,
    ServiceBinding,
    ServiceInstance,
    Space,
    TcpRoute,
    Webhook,
)


@dataclass(frozen=True)
class Call:
    """What the policy reads of a call."""

    path: Mapping[str, str]
    query: Mapping[str, str]
    body: Mapping[str, Any]
    default_space: str


@dataclass(frozen=True)
class Scope:
    """An org (`kind` "org"), a space (listing it or its contents) or a resource in a space;
    `missing` is the 404 a caller who may not see it gets (the same as were it not there)."""

    kind: Literal["org", "space", "resource"]
    missing: str
    org_guid: str
    space_guid: str | None = None


Target = Callable[[Session, Call], Scope]


def _in_space(session: Session, space_guid: str, what: str) -> Scope:
    space = session.get(Space, space_guid)
    if space is None:
        raise not_found(what)
    return Scope("resource", not_found(what).message, space.org_guid, space.guid)


def _space(session: Session, guid: Any) -> Scope:
    space = session.get(Space, guid) if isinstance(guid, str) else None
    if space is None:
        raise not_found(f"space {guid}")
    return Scope("space", not_found(f"space {guid}").message, space.org_guid, space.guid)


def _row(model: type[Any], label: str, key: Callable[[Call], Any]) -> Target:
    """The space of the `model` row whose guid `key` finds in the call."""

    def target(session: Session, call: Call) -> Scope:
        guid = key(call)
        row = session.get(model, guid) if isinstance(guid, str) and guid else None
        if row is None:
            raise not_found(f"{label} {guid}")
        return _in_space(session, _space_of(session, row), f"{label} {guid}")

    return target


def _space_of(session: Session, row: Any) -> str:
    if isinstance(row, ServiceBinding | ServiceBackup):
        instance = session.get(ServiceInstance, row.service_instance_guid)
        return instance.space_guid if instance else ""
    if isinstance(row, NetworkPolicy):  # where its source app is
        app = session.get(App, row.source_app_guid)
        return app.space_guid if app else ""
    if isinstance(row, Build | Package):
        app = session.get(App, row.app_guid)
        return app.space_guid if app else ""
    space_guid: str = row.space_guid
    return space_guid


def _path(name: str) -> Callable[[Call], Any]:
    return lambda call: call.path.get(name)


def _body(name: str) -> Callable[[Call], str]:
    """The body's field `name`, which the call cannot go without."""

    def field(call: Call) -> str:
        value = call.body.get(name)
        if not isinstance(value, str) or not value:
            raise ApiError(422, f"{name}: is required")
        return value

    return field


APP = _row(App, "app", _path("guid"))
BODY_APP = _row(App, "app", _body("app"))
BUILD = _row(Build, "build", _path("guid"))
BODY_PACKAGE = _row(Package, "package", _body("package_guid"))
ROUTE = _row(Route, "route", _path("guid"))
TCP_ROUTE = _row(TcpRoute, "tcp route", _path("guid"))
INSTANCE = _row(ServiceInstance, "service instance", _path("guid"))
BODY_INSTANCE = _row(ServiceInstance, "service instance", _body("service_instance"))
BINDING = _row(ServiceBinding, "service binding", _path("guid"))
BACKUP = _row(ServiceBackup, "service backup", _path("guid"))
WEBHOOK = _row(Webhook, "webhook", _path("guid"))
BODY_SOURCE_APP = _row(App, "app", _body("source"))
NETWORK_POLICY = _row(NetworkPolicy, "network policy", _path("guid"))


def PIPELINE(session: Session, call: Call) -> Scope:
    """The org of the pipeline the path names."""
    guid = call.path.get("guid")
    row = session.get(Pipeline, guid) if isinstance(guid, str) and guid else None
    if row is None:
        raise not_found(f"pipeline {guid}")
    return Scope("org", not_found(f"pipeline {guid}").message, row.org_guid)


def BODY_SPACE(session: Session, call: Call) -> Scope:
    """The space a new app, route or service goes to: the body's, or the default space."""
    return _space(session, call.body.get("space_guid") or call.default_space)


def QUERY_SPACE(session: Session, call: Call) -> Scope:
    """The space a listing is of: the query's, or the default space."""
    return _space(session, call.query.get("space_guid") or call.default_space)


def _org_missing(name: Any) -> ApiError:
    return ApiError(404, f"org {name} not found (see `yun orgs`)")


def org_named(session: Session, call: Call) -> Org:
    """The org named in the path (`{org}`, or `{name}` in `/v3/organizations/{name}`)."""
    name = call.path.get("org", call.path.get("name"))
    org = session.scalar(select(Org).where(Org.name == name)) if isinstance(name, str) else None
    if org is None:
        raise _org_missing(name)
    return org


def _space_missing(call: Call) -> ApiError:
    name, org = call.path.get("name"), call.path.get("org")
    return ApiError(404, f"space {name} not found in org {org} (see `yun spaces`)")


def space_named(session: Session, call: Call) -> tuple[Org, Space]:
    """The org and space named in the path (`/v3/organizations/{org}/spaces/{name}`)."""
    org = org_named(session, call)
    space = session.scalar(
        select(Space).where(Space.org_guid == org.guid, Space.name == call.path.get("name"))
    )
    if space is None:
        raise _space_missing(call)
    return org, space


def ORG(session: Session, call: Call) -> Scope:
    org = org_named(session, call)
    return Scope("org", _org_missing(org.name).message, org.guid)


def BODY_ORG(session: Session, call: Call) -> Scope:
    """The org a new space goes to."""
    return ORG(session, Call({"org": _body("org")(call)}, {}, {}, call.default_space))


def SPACE(session: Session, call: Call) -> Scope:
    """The space named in the path; one in an org the caller may not see is as missing."""
    org, space = space_named(session, call)
    return Scope("space", _space_missing(call).message, org.guid, space.guid)
