"""Network policies (`yun add-network-policy`, `network-policies`, `remove-network-policy`):
which app's instances may open connections to which other app's, on which protocol and ports.

As in Cloud Foundry, adding one needs SpaceDeveloper (or an org or platform role above it)
in the spaces of both apps; listing shows the policies whose source app is in the space.
The route controller hands the policies, with their apps' instance addresses, to the network
on each pass (`controllers/network_policies.py`); a change here wakes it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError, not_found
from yun.api.policy import CallerGrants
from yun.store import events
from yun.store.models import App, NetworkPolicy, Org, Space
from yun.store.roles import DEVELOP, SEE, Grants

router = APIRouter()
PROTOCOLS = ("tcp", "udp")
DEFAULT_PORT = 8080  # Cloud Foundry's default for add-network-policy


class PolicyBody(BaseModel):
    source: str = Field(min_length=1, max_length=36)
    destination: str = Field(min_length=1, max_length=36)
    protocol: str = "tcp"
    ports: str = str(DEFAULT_PORT)


def port_range(text: str) -> tuple[int, int]:
    """ "8080" or "8080-8090" → (start, end); ValueError naming what is wrong."""
    parts = text.strip().split("-")
    if len(parts) > 2 or not all(part.strip().isdigit() for part in parts):
        raise ValueError(f"{text!r} is not a port (8080) or a range of ports (8080-8090)")
    start, end = int(parts[0]), int(parts[-1])
    if not 1 <= start <= 65535 or not 1 <= end <= 65535:
        raise ValueError(f"{text!r}: ports are 1 to 65535")
    if start > end:
        raise ValueError(f"{text!r}: the range starts after it ends")
    return start, end


def ports_text(start: int, end: int) -> str:
    return str(start) if start == end else f"{start}-{end}"


def _end(session: Session, app: App) -> dict[str, Any]:
    space = session.get(Space, app.space_guid)
    org = session.get(Org, space.org_guid) if space else None
    return {
        "guid": app.guid,
        "name": app.name,
        "space": space.name if space else "",
        "org": org.name if org else "",
    }


def policy_view(session: Session, policy: NetworkPolicy) -> dict[str, Any]:
    source = session.get(App, policy.source_app_guid)
    destination = session.get(App, policy.destination_app_guid)
    return {
        "guid": policy.guid,
        "source": _end(session, source) if source else {"guid": policy.source_app_guid},
        "destination": (
            _end(session, destination) if destination else {"guid": policy.destination_app_guid}
        ),
        "protocol": policy.protocol,
        "ports": ports_text(policy.start_port, policy.end_port),
        "start_port": policy.start_port,
        "end_port": policy.end_port,
        "created_by": policy.created_by,
        "created_at": policy.created_at,
    }


def _destination(session: Session, grants: Grants, guid: str) -> App:
    """The destination app, which the caller must be able to change too (404 when they cannot
    even see it, as for a missing one)."""
    app = session.get(App, guid)
    space = session.get(Space, app.space_guid) if app else None
    if app is None or space is None or not grants.may(SEE, space.org_guid, space.guid):
        raise not_found(f"app {guid}")
    if not grants.may(DEVELOP, space.org_guid, space.guid):
        raise ApiError(
            403,
            f"{grants.user} may not {DEVELOP.name} in the destination app's space: "
            "it needs SpaceDeveloper there",
        )
    return app


@router.get("/v3/network_policies")
def list_policies(
    ctx: Ctx, _user: CurrentUser, space_guid: str | None = None, source_app_guid: str = ""
) -> dict[str, Any]:
    """The policies whose source app is in the space (only `source_app_guid`'s, if given)."""
    with ctx.store.session() as session:
        query = (
            select(NetworkPolicy)
            .join(App, App.guid == NetworkPolicy.source_app_guid)
            .where(App.space_guid == (space_guid or ctx.defaults.space_guid))
        )
        if source_app_guid:
            query = query.where(NetworkPolicy.source_app_guid == source_app_guid)
        rows = session.scalars(query.order_by(NetworkPolicy.created_at))
        return {"resources": [policy_view(session, row) for row in rows]}


@router.post("/v3/network_policies", status_code=201)
def create_policy(
    body: PolicyBody, ctx: Ctx, user: CurrentUser, grants: CallerGrants
) -> dict[str, Any]:
    if body.protocol not in PROTOCOLS:
        raise ApiError(422, f"protocol: {body.protocol!r} is not one of {', '.join(PROTOCOLS)}")
    try:
        start, end = port_range(body.ports)
    except ValueError as exc:
        raise ApiError(422, f"ports: {exc}") from exc
    with ctx.store.session() as session:
        source = session.get(App, body.source)
        if source is None:  # the policy found it; gone since
            raise not_found(f"app {body.source}")
        destination = _destination(session, grants, body.destination)
        known = session.scalars(
            select(NetworkPolicy).where(
                NetworkPolicy.source_app_guid == source.guid,
                NetworkPolicy.destination_app_guid == destination.guid,
                NetworkPolicy.protocol == body.protocol,
                NetworkPolicy.start_port == start,
                NetworkPolicy.end_port == end,
            )
        ).first()
        if known is not None:  # adding it again changes nothing, as in Cloud Foundry
            return policy_view(session, known)
        policy = NetworkPolicy(
            source_app_guid=source.guid,
            destination_app_guid=destination.guid,
            protocol=body.protocol,
            start_port=start,
            end_port=end,
            created_by=user.name,
        )
        session.add(policy)
        session.flush()
        view = policy_view(session, policy)
        events.record(
            session,
            type="audit.network_policy.create",
            app=source,
            actor=user.name,
            data={k: view[k] for k in ("destination", "protocol", "ports")},
        )
    ctx.wake("routes")
    return view


@router.delete("/v3/network_policies/{guid}")
def delete_policy(guid: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        policy = session.get(NetworkPolicy, guid)
        if policy is None:
            raise not_found(f"network policy {guid}")
        view = policy_view(session, policy)
        source = session.get(App, policy.source_app_guid)
        session.delete(policy)
        events.record(
            session,
            type="audit.network_policy.delete",
            app=source,
            actor=user.name,
            data={k: view[k] for k in ("destination", "protocol", "ports")},
        )
    ctx.wake("routes")
    return view
