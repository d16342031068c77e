"""Outgoing webhooks of a space (`yun create-webhook`, `webhooks`, `delete-webhook`,
`webhook-deliveries`); see `controllers/webhooks.py` for what is sent and how."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError, not_found
from yun.controllers.webhooks import KINDS
from yun.store import events
from yun.store.models import Space, Webhook, WebhookDelivery

router = APIRouter()
SHOWN_DELIVERIES = 100


class WebhookBody(BaseModel):
    url: str = Field(min_length=1, max_length=2048)
    space_guid: str | None = None
    kinds: list[str] = Field(default_factory=lambda: list(KINDS), min_length=1)
    secret: str = Field(default="", max_length=255)


def webhook_view(hook: Webhook) -> dict[str, Any]:
    return {
        "guid": hook.guid,
        "space_guid": hook.space_guid,
        "url": hook.url,
        "kinds": list(hook.kinds),
        "created_at": hook.created_at,
        "created_by": hook.created_by,
    }


def _check(body: WebhookBody) -> None:
    parts = urlsplit(body.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(422, f"url: {body.url!r} is not an http:// or https:// URL")
    unknown = sorted(set(body.kinds) - set(KINDS))
    if unknown:
        raise ApiError(422, f"kinds: {', '.join(unknown)} is not one of {', '.join(KINDS)}")


@router.get("/v3/webhooks")
def list_webhooks(ctx: Ctx, _user: CurrentUser, space_guid: str | None = None) -> dict[str, Any]:
    with ctx.store.session() as session:
        rows = session.scalars(
            select(Webhook)
            .where(Webhook.space_guid == (space_guid or ctx.defaults.space_guid))
            .order_by(Webhook.created_at)
        )
        return {"resources": [webhook_view(hook) for hook in rows]}


@router.post("/v3/webhooks", status_code=201)
def create_webhook(body: WebhookBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    _check(body)
    secret = body.secret or secrets.token_urlsafe(24)
    with ctx.store.session() as session:
        space = session.get(Space, body.space_guid or ctx.defaults.space_guid)
        if space is None:
            raise not_found(f"space {body.space_guid}")
        hook = Webhook(
            space_guid=space.guid,
            url=body.url,
            secret=secret,
            kinds=sorted(set(body.kinds), key=KINDS.index),
            created_by=user.name,
        )
        session.add(hook)
        events.record(
            session,
            type="audit.webhook.create",
            app=None,
            actor=user.name,
            space_guid=space.guid,
            data={"url": body.url, "kinds": hook.kinds},
        )
        session.flush()
        view = webhook_view(hook)
    view["secret"] = secret  # shown once: receivers check signatures with it
    return view


def _webhook(session: Any, guid: str) -> Webhook:
    hook = session.get(Webhook, guid)
    if hook is None:
        raise not_found(f"webhook {guid}")
    return hook  # type: ignore[no-any-return]


@router.delete("/v3/webhooks/{guid}")
def delete_webhook(guid: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        hook = _webhook(session, guid)
        view = webhook_view(hook)
        session.delete(hook)
        events.record(
            session,
            type="audit.webhook.delete",
            app=None,
            actor=user.name,
            space_guid=hook.space_guid,
            data={"url": hook.url},
        )
    return view


@router.get("/v3/webhooks/{guid}/deliveries")
def list_deliveries(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        hook = _webhook(session, guid)
        rows = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_guid == hook.guid)
            .order_by(WebhookDelivery.created_at.desc())
            .limit(SHOWN_DELIVERIES)
        )
        return {
            "resources": [
                {
                    "guid": row.guid,
                    "kind": row.kind,
                    "event_type": row.event_type,
                    "state": row.state,
                    "attempts": [
                        {"at": at, "status": status, "error": error}
                        for at, status, error in row.attempts
                    ],
                    "next_attempt_at": row.next_attempt_at if row.state == "PENDING" else None,
                    "created_at": row.created_at,
                }
                for row in rows
            ]
        }
