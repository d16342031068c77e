"""Orgs and spaces, Cloud Foundry's: `yun orgs`, `create-org`, `rename-org`, `delete-org`,
`spaces`, `create-space`, `rename-space`, `delete-space`, and what `yun target` resolves.

Orgs and spaces are named in paths (`/v3/organizations/ORG/spaces/SPACE`); a space's name is
unique in its org. Deleting one that is not empty is refused unless `recursive`: then its apps
go (their instances stop, their bindings are released) with their routes and the space's other
routes. Service instances are not deleted with a space: deprovisioning is the broker's, and
may fail; delete them first (`yun delete-service`), and the refusal names them. Nothing is
deleted when anything would be refused. The default org and space (`main`/`dev` unless
renamed), where calls without a target go, stay.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yun.api.apps import after_removal, remove_app
from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError
from yun.api.policy import CallerGrants
from yun.api.quotas import held_view, quota_view
from yun.api.roles import grant
from yun.runtimes import DEFAULT_RUNTIME
from yun.store import events
from yun.store.models import App, Cluster, Org, Quota, Route, ServiceInstance, Space
from yun.store.quotas import usage
from yun.store.roles import SEE_ORG, SEE_SPACE, SPACE_DEVELOPER, SPACE_MANAGER, Grants

router = APIRouter()
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


class Named(BaseModel):
    name: str = Field(pattern=NAME, description="Letters, digits and . _ - (up to 63)")


class NewSpace(Named):
    org: str = Field(min_length=1, max_length=255)


def find_org(session: Session, name: str) -> Org:
    org = session.scalar(select(Org).where(Org.name == name))
    if org is None:
        raise ApiError(404, f"org {name} not found (see `yun orgs`)")
    return org


def find_space(session: Session, org: Org, name: str) -> Space:
    space = session.scalar(select(Space).where(Space.org_guid == org.guid, Space.name == name))
    if space is None:
        raise ApiError(404, f"space {name} not found in org {org.name} (see `yun spaces`)")
    return space


def space_view(session: Session, space: Space, org: Org) -> dict[str, Any]:
    def count(model: Any) -> int:
        return int(session.scalar(select(func.count()).where(model.space_guid == space.guid)) or 0)

    cluster = session.get(Cluster, space.cluster_guid) if space.cluster_guid else None

    return {
        "guid": space.guid,
        "name": space.name,
        "org": org.name,
        "org_guid": org.guid,
        "apps": count(App),
        "routes": count(Route),
        "services": count(ServiceInstance),
        "quotas": held_view(session, space),
        "cluster": cluster.name if cluster is not None else "local",  # where its apps run
        "runtime": space.runtime or DEFAULT_RUNTIME,  # what its apps' instances run under
    }


def org_view(session: Session, org: Org, default_org: str, grants: Grants) -> dict[str, Any]:
    spaces = session.scalars(select(Space).where(Space.org_guid == org.guid).order_by(Space.name))
    return {
        "guid": org.guid,
        "name": org.name,
        "spaces": [s.name for s in spaces if grants.may(SEE_SPACE, org.guid, s.guid)],
        "default": org.guid == default_org,
    }


@router.get("/v3/organizations")
def list_orgs(ctx: Ctx, grants: CallerGrants) -> dict[str, Any]:
    """The orgs the caller has a role in (every org, for an admin)."""
    with ctx.store.session() as session:
        orgs = [
            o
            for o in session.scalars(select(Org).order_by(Org.name))
            if grants.may(SEE_ORG, o.guid, None)
        ]
        return {"resources": [org_view(session, o, ctx.defaults.org_guid, grants) for o in orgs]}


@router.get("/v3/organizations/{name}")
def show_org(name: str, ctx: Ctx, grants: CallerGrants) -> dict[str, Any]:
    """The org, its quota and what its spaces use of it."""
    with ctx.store.session() as session:
        org = find_org(session, name)
        view = org_view(session, org, ctx.defaults.org_guid, grants)
        quota = session.get(Quota, org.quota_guid) if org.quota_guid else None
        spaces = list(session.scalars(select(Space.guid).where(Space.org_guid == org.guid)))
        view["quota"] = quota_view(quota) if quota else None
        view["used"] = usage(session, spaces).as_dict()
        return view


@router.post("/v3/organizations", status_code=201)
def create_org(body: Named, ctx: Ctx, user: CurrentUser, grants: CallerGrants) -> dict[str, Any]:
    with ctx.store.session() as session:
        if session.scalar(select(Org).where(Org.name == body.name)) is not None:
            raise ApiError(409, f"org {body.name} already exists")
        org = Org(name=body.name)
        session.add(org)
        session.flush()
        events.record(
            session, type="audit.org.create", app=None, actor=user.name, data={"org": body.name}
        )
        return org_view(session, org, ctx.defaults.org_guid, grants)


@router.patch("/v3/organizations/{name}")
def rename_org(
    name: str, body: Named, ctx: Ctx, user: CurrentUser, grants: CallerGrants
) -> dict[str, Any]:
    with ctx.store.session() as session:
        org = find_org(session, name)
        if body.name != name and session.scalar(select(Org).where(Org.name == body.name)):
            raise ApiError(409, f"org {body.name} already exists")
        org.name = body.name
        events.record(
            session,
            type="audit.org.rename",
            app=None,
            actor=user.name,
            data={"from": name, "to": body.name},
        )
        return org_view(session, org, ctx.defaults.org_guid, grants)


@router.delete("/v3/organizations/{name}")
def delete_org(name: str, ctx: Ctx, user: CurrentUser, recursive: bool = False) -> dict[str, Any]:
    with ctx.store.session() as session:
        org = find_org(session, name)
        if org.guid == ctx.defaults.org_guid:
            raise ApiError(
                409,
                f"org {name} holds the default space, where calls without a target go; it stays",
            )
        spaces = list(session.scalars(select(Space).where(Space.org_guid == org.guid)))
        if spaces and not recursive:
            shown = ", ".join(sorted(s.name for s in spaces))
            raise ApiError(
                409, f"org {name} has spaces ({shown}); delete them first, or give --recursive"
            )
        for space in spaces:
            _check_emptiable(session, space, recursive=True)
        removed, unbind = [], []
        for space in spaces:
            gone, released = _empty(session, space, actor=user.name)
            removed += gone
            unbind += released
            session.delete(space)
        session.delete(org)
        events.record(
            session, type="audit.org.delete", app=None, actor=user.name, data={"org": name}
        )
    after_removal(ctx, removed, unbind)
    return {"deleted": name, "spaces": len(spaces), "apps": len(removed)}


@router.get("/v3/spaces")
def list_spaces(ctx: Ctx, grants: CallerGrants, org: str | None = None) -> dict[str, Any]:
    """The spaces the caller may see (of one org, if named)."""
    with ctx.store.session() as session:
        orgs = (
            [find_org(session, org)]
            if org
            else list(session.scalars(select(Org).order_by(Org.name)))
        )
        if org and not grants.may(SEE_ORG, orgs[0].guid, None):
            raise ApiError(404, f"org {org} not found (see `yun orgs`)")
        found = []
        for each in orgs:
            spaces = session.scalars(
                select(Space).where(Space.org_guid == each.guid).order_by(Space.name)
            )
            found += [
                space_view(session, s, each)
                for s in spaces
                if grants.may(SEE_SPACE, each.guid, s.guid)
            ]
        return {"resources": found}


@router.get("/v3/organizations/{org}/spaces/{name}")
def show_space(org: str, name: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        owner = find_org(session, org)
        return space_view(session, find_space(session, owner, name), owner)


@router.post("/v3/spaces", status_code=201)
def create_space(body: NewSpace, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        org = find_org(session, body.org)
        if session.scalar(select(Space).where(Space.org_guid == org.guid, Space.name == body.name)):
            raise ApiError(409, f"space {body.name} already exists in org {org.name}")
        space = Space(name=body.name, org_guid=org.guid)
        session.add(space)
        session.flush()
        events.record(
            session,
            type="audit.space.create",
            app=None,
            actor=user.name,
            data={"org": org.name, "space": body.name},
            space_guid=space.guid,
        )
        if not user.admin:  # as in Cloud Foundry, an OrgManager's new space is theirs to use
            for role in (SPACE_MANAGER, SPACE_DEVELOPER):
                grant(session, user, org, space, role, actor=user.name)
        return space_view(session, space, org)


@router.patch("/v3/organizations/{org}/spaces/{name}")
def rename_space(org: str, name: str, body: Named, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        owner = find_org(session, org)
        space = find_space(session, owner, name)
        taken = session.scalar(
            select(Space).where(Space.org_guid == owner.guid, Space.name == body.name)
        )
        if taken is not None and taken.guid != space.guid:
            raise ApiError(409, f"space {body.name} already exists in org {org}")
        space.name = body.name
        events.record(
            session,
            type="audit.space.rename",
            app=None,
            actor=user.name,
            data={"org": org, "from": name, "to": body.name},
        )
        return space_view(session, space, owner)


@router.delete("/v3/organizations/{org}/spaces/{name}")
def delete_space(
    org: str, name: str, ctx: Ctx, user: CurrentUser, recursive: bool = False
) -> dict[str, Any]:
    with ctx.store.session() as session:
        owner = find_org(session, org)
        space = find_space(session, owner, name)
        if space.guid == ctx.defaults.space_guid:
            raise ApiError(
                409, f"space {name} is the default space, where calls without a target go; it stays"
            )
        _check_emptiable(session, space, recursive=recursive)
        removed, unbind = _empty(session, space, actor=user.name)
        session.delete(space)
        events.record(
            session,
            type="audit.space.delete",
            app=None,
            actor=user.name,
            data={"org": org, "space": name},
        )
    after_removal(ctx, removed, unbind)
    return {"deleted": name, "apps": len(removed)}


def _check_emptiable(session: Session, space: Space, *, recursive: bool) -> None:
    """Raise (before anything is deleted) what would stop `space` from being emptied."""
    services = sorted(
        session.scalars(
            select(ServiceInstance.name).where(ServiceInstance.space_guid == space.guid)
        )
    )
    if services:
        raise ApiError(
            409,
            f"space {space.name} has service instances ({', '.join(services)}); delete them first"
            f" (`yun delete-service {services[0]}`)",
        )
    if recursive:
        return
    apps = sorted(session.scalars(select(App.name).where(App.space_guid == space.guid)))
    routes = session.scalar(select(func.count()).where(Route.space_guid == space.guid)) or 0
    if apps or routes:
        held = f"apps ({', '.join(apps)})" if apps else f"{routes} route(s)"
        raise ApiError(
            409, f"space {space.name} has {held}; delete them first, or give --recursive"
        )


def _empty(session: Session, space: Space, *, actor: str) -> tuple[list[str], list[str]]:
    """Delete the space's apps and routes: (the apps' guids, bindings to release)."""
    removed, unbind = [], []
    for app in list(session.scalars(select(App).where(App.space_guid == space.guid))):
        removed.append(app.guid)
        unbind += remove_app(session, app, actor=actor)
    for route in list(session.scalars(select(Route).where(Route.space_guid == space.guid))):
        session.delete(route)
    return removed, unbind
