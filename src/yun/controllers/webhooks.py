"""Outgoing webhooks: the events of a space's apps, of the kinds a webhook asks for, POSTed to
its URL as JSON, as GitHub, GitLab and Heroku send theirs.

Kinds, from the platform's events (`yun events`):

- `deploy`: a droplet staged, a deployment made, finished, failed or cancelled, a rollback;
- `crash`: an instance crashed;
- `scale`: instances, memory or disk changed by hand or by the autoscaler;
- `task`: a task made, cancelled, succeeded or failed; a cron run made or skipped.

Each delivery is signed as GitHub signs (`X-Yun-Signature-256: sha256=HEX`, HMAC-SHA256 of the
body with the webhook's secret) and names itself (`X-Yun-Delivery`) and its kind
(`X-Yun-Event`). A receiver that does not answer 2xx within 5 s gets it again after 10 s,
30 s, 1 min, 5 min, 15 min and 1 h (`BACKOFF`), then it is FAILED; every attempt's status is
kept (`yun webhook-deliveries`). Deliveries older than a week are pruned.

Events are read from the store after the last one seen (the first pass starts at the newest),
so a server that was down sends nothing it did not see; time and the HTTP call are injected.
A pass is skipped while the store was not written (no new event) and no delivery is due.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Callable

import httpx
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from yun.controllers.runtime.managing import Result
from yun.store.models import App, Event, Org, Space, Webhook, WebhookDelivery
from yun.store.session import Store

KINDS = ("deploy", "crash", "scale", "task")
BACKOFF = (10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)  # seconds before each retry
TIMEOUT = 5.0  # seconds a receiver has to answer
EVERY = 2.0  # seconds between passes (events are sent within about this)
OVERLAP = 5.0  # seconds of events read again, for those committed late
KEEP = 7 * 86400.0  # seconds deliveries are kept
BATCH = 20  # deliveries attempted in one pass (one at a time: at most 100 s)
PRUNE_EVERY = 600.0  # seconds: the longest a quiet platform goes without a full pass
USER_AGENT = "Yun-Webhooks/1"
Sender = Callable[[str, bytes, dict[str, str]], int]
log = logging.getLogger(__name__)


def kind_of(event_type: str) -> str | None:
    """The webhook kind of an event type, or None when webhooks do not send it."""
    if event_type.startswith(("audit.app.deployment.", "app.deployment.")) or event_type in (
        "audit.app.droplet.create",
        "audit.app.rollback",
    ):
        return "deploy"
    if event_type == "app.crash":
        return "crash"
    if event_type in ("audit.app.process.scale", "app.autoscale"):
        return "scale"
    if event_type.startswith(("app.task.", "audit.app.task.", "app.schedule.")):
        return "task"
    return None


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST `body` to `url`; the status code (httpx.HTTPError when nothing answered)."""
    return httpx.post(url, content=body, headers=headers, timeout=TIMEOUT).status_code


class WebhookController:
    prefix = "webhooks"

    def __init__(
        self, *, store: Store, send: Sender = post, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.send = send
        self.clock = clock
        self._seen: float | None = None
        # The store's write count when the last full pass began, the next delivery due then,
        # and when that pass was: nothing new since, nothing due, no need to look.
        self._quiet: tuple[int, float, float] | None = None

    def reconcile(self, key: str) -> Result:
        now = self.clock()
        writes = getattr(self.store, "writes", None)
        if self._quiet is not None and writes is not None:
            written, next_due, looked = self._quiet
            if writes == written and now < next_due and now - looked < PRUNE_EVERY:
                return Result(requeue_after=EVERY)
        with self.store.session() as session:
            self._enqueue(session, now)
        with self.store.session() as session:
            due = list(
                session.scalars(
                    select(WebhookDelivery.guid)
                    .where(
                        WebhookDelivery.state == "PENDING", WebhookDelivery.next_attempt_at <= now
                    )
                    .order_by(WebhookDelivery.next_attempt_at)
                    .limit(BATCH)
                )
            )
            session.execute(delete(WebhookDelivery).where(WebhookDelivery.created_at < now - KEEP))
        for guid in due:
            self._attempt(guid)
        with self.store.session() as session:
            soonest = session.scalar(
                select(func.min(WebhookDelivery.next_attempt_at)).where(
                    WebhookDelivery.state == "PENDING"
                )
            )
        if writes is not None:
            self._quiet = (writes, math.inf if soonest is None else float(soonest), now)
        return Result(requeue_after=EVERY)

    def _enqueue(self, session: Session, now: float) -> None:
        """A delivery for each new event of a kind a webhook of its space wants."""
        if self._seen is None:
            newest = session.scalar(select(Event.created_at).order_by(Event.created_at.desc()))
            self._seen = float(newest) if newest is not None else now
            return
        hooks = list(session.scalars(select(Webhook)))
        if not hooks:
            self._seen = now
            return
        fresh = session.scalars(
            select(Event).where(Event.created_at > self._seen - OVERLAP).order_by(Event.created_at)
        )
        for event in fresh:
            self._seen = max(self._seen, event.created_at)
            kind = kind_of(event.type)
            if kind is None:
                continue
            for hook in hooks:
                if hook.space_guid != event.space_guid or kind not in hook.kinds:
                    continue
                known = session.scalar(
                    select(WebhookDelivery.guid).where(
                        WebhookDelivery.webhook_guid == hook.guid,
                        WebhookDelivery.event_guid == event.guid,
                    )
                )
                if known is None:
                    session.add(
                        WebhookDelivery(
                            webhook_guid=hook.guid,
                            event_guid=event.guid,
                            kind=kind,
                            event_type=event.type,
                            payload=payload(session, event, kind),
                            next_attempt_at=now,
                        )
                    )
                    session.flush()

    def _attempt(self, guid: str) -> None:
        with self.store.session() as session:
            delivery = session.get(WebhookDelivery, guid)
            hook = session.get(Webhook, delivery.webhook_guid) if delivery else None
            if delivery is None or hook is None or delivery.state != "PENDING":
                return
            url, secret = hook.url, hook.secret
            body = json.dumps({"delivery": guid, **delivery.payload}, sort_keys=True).encode()
            kind = delivery.kind
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Yun-Event": kind,
            "X-Yun-Delivery": guid,
            "X-Yun-Signature-256": sign(secret, body),
        }
        status: int | None = None
        error = ""
        try:
            status = self.send(url, body, headers)
            if not 200 <= status < 300:
                error = f"answered {status}"
        except (httpx.HTTPError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        now = self.clock()
        with self.store.session() as session:
            delivery = session.get(WebhookDelivery, guid)
            if delivery is None:
                return
            delivery.attempts = [*delivery.attempts, [now, status, error]]
            tried = len(delivery.attempts)
            if not error:
                delivery.state = "DELIVERED"
            elif tried > len(BACKOFF):
                delivery.state = "FAILED"
            else:
                delivery.next_attempt_at = now + BACKOFF[tried - 1]


def payload(session: Session, event: Event, kind: str) -> dict[str, object]:
    """What a receiver gets (besides the delivery's id): the event, its app, space and org."""
    space = session.get(Space, event.space_guid) if event.space_guid else None
    org = session.get(Org, space.org_guid) if space else None
    app = session.get(App, event.actee_guid) if event.actee_type == "app" else None
    return {
        "kind": kind,
        "event": {
            "guid": event.guid,
            "type": event.type,
            "created_at": event.created_at,
            "actor": event.actor,
            "data": event.data,
        },
        "app": {"guid": event.actee_guid, "name": app.name if app else event.actee_name},
        "space": {"guid": space.guid, "name": space.name} if space else None,
        "org": {"guid": org.guid, "name": org.name} if org else None,
    }
