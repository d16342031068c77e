"""Service brokers and the marketplace: `yun create-service-broker`, `yun service-brokers`,
`yun update-service-broker`, `yun delete-service-broker`, `yun marketplace`.

Registering (or updating) a broker reads its catalog at once, so a wrong URL or password is
refused with the broker's own answer and nothing is stored.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser
from yun.api.context import ApiContext
from yun.api.errors import ApiError, not_found
from yun.brokers.client import Broker, BrokerError
from yun.store.models import ServiceBroker, ServiceInstance, ServiceOffering, ServicePlan, User
from yun.store.services import store_catalog

router = APIRouter()
# ASCII only (an internationalised host name goes in its xn-- form), no spaces.
URL_PATTERN = r"^https?://[\x21-\x7e]+$"
URL_HELP = "http(s)://host[:port][/path], ASCII (IDN hosts as xn--…)"

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class BrokerBody(BaseModel):
    name: str = Field(pattern=NAME)
    url: str = Field(pattern=URL_PATTERN, description=URL_HELP)
    username: str = ""
    password: str = ""


class BrokerUpdate(BaseModel):
    url: str | None = Field(default=None, pattern=URL_PATTERN, description=URL_HELP)
    username: str | None = None
    password: str | None = None


def _admin(user: User) -> None:
    if not user.admin:
        raise ApiError(403, "only an admin may register or change service brokers")


def broker_view(broker: ServiceBroker) -> dict[str, Any]:
    return {
        "guid": broker.guid,
        "name": broker.name,
        "url": broker.url,
        "username": broker.username,
        "builtin": broker.builtin,
        "created_at": broker.created_at,
    }


def refresh_catalog(ctx: ApiContext, session: Session, broker: ServiceBroker) -> None:
    """Read the broker's catalog and store it; a broker that cannot be read is a 422 on the
    URL the caller gave (the message names it and says why), nothing stored."""
    endpoint = Broker(
        name=broker.name, url=broker.url, username=broker.username, password=broker.password
    )
    try:
        with ctx.broker_clients(endpoint) as client:
            services = client.catalog()
    except BrokerError as exc:
        raise ApiError(422, str(exc)) from None
    session.flush()
    store_catalog(session, broker_guid=broker.guid, services=services)


@router.post("/v3/service_brokers", status_code=201)
def create_broker(body: BrokerBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    _admin(user)
    with ctx.store.session() as session:
        if session.scalar(select(ServiceBroker).where(ServiceBroker.name == body.name)):
            raise ApiError(409, f"a service broker named {body.name} exists already")
        broker = ServiceBroker(
            name=body.name,
            url=body.url.rstrip("/"),
            username=body.username,
            password=body.password,
        )
        session.add(broker)
        refresh_catalog(ctx, session, broker)
        return broker_view(broker)


@router.get("/v3/service_brokers")
def list_brokers(ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        brokers = session.scalars(select(ServiceBroker).order_by(ServiceBroker.name))
        return {"resources": [broker_view(b) for b in brokers]}


def _broker(session: Session, name_or_guid: str) -> ServiceBroker:
    broker = session.get(ServiceBroker, name_or_guid) or session.scalar(
        select(ServiceBroker).where(ServiceBroker.name == name_or_guid)
    )
    if broker is None:
        raise not_found(f"service broker {name_or_guid}")
    return broker


@router.patch("/v3/service_brokers/{guid}")
def update_broker(guid: str, body: BrokerUpdate, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """New URL or credentials (the catalog is read again with them)."""
    _admin(user)
    with ctx.store.session() as session:
        broker = _broker(session, guid)
        for field in ("url", "username", "password"):
            value = getattr(body, field)
            if value is not None:
                setattr(broker, field, value.rstrip("/") if field == "url" else value)
        refresh_catalog(ctx, session, broker)
        return broker_view(broker)


@router.delete("/v3/service_brokers/{guid}", status_code=204)
def delete_broker(guid: str, ctx: Ctx, user: CurrentUser) -> None:
    _admin(user)
    with ctx.store.session() as session:
        broker = _broker(session, guid)
        if broker.builtin:
            raise ApiError(422, f"{broker.name} is the platform's own broker; it stays")
        used = session.scalar(
            select(ServiceInstance.name)
            .join(ServicePlan, ServicePlan.guid == ServiceInstance.plan_guid)
            .join(ServiceOffering, ServiceOffering.guid == ServicePlan.offering_guid)
            .where(ServiceOffering.broker_guid == broker.guid)
            .limit(1)
        )
        if used is not None:
            raise ApiError(
                422,
                f"service broker {broker.name} still has service instances (for example"
                f" {used}); delete them first",
            )
        session.delete(broker)


def offering_view(session: Session, offering: ServiceOffering) -> dict[str, Any]:
    broker = session.get(ServiceBroker, offering.broker_guid)
    plans = session.scalars(
        select(ServicePlan)
        .where(ServicePlan.offering_guid == offering.guid)
        .order_by(ServicePlan.name)
    )
    return {
        "guid": offering.guid,
        "name": offering.name,
        "description": offering.description,
        "broker": broker.name if broker else "",
        "bindable": offering.bindable,
        "plan_updateable": offering.plan_updateable,
        "tags": list(offering.tags),
        "plans": [
            {
                "guid": plan.guid,
                "name": plan.name,
                "description": plan.description,
                "free": plan.free,
            }
            for plan in plans
        ],
    }


@router.get("/v3/service_offerings")
def marketplace(ctx: Ctx, _user: CurrentUser, name: str | None = None) -> dict[str, Any]:
    with ctx.store.session() as session:
        query = select(ServiceOffering).order_by(ServiceOffering.name)
        if name:
            query = query.where(ServiceOffering.name == name)
        return {"resources": [offering_view(session, o) for o in session.scalars(query)]}
