"""Outgoing webhooks against a real HTTP receiver on loopback: each event of a wanted kind is
POSTed as JSON with an HMAC-SHA256 signature the receiver can check with the webhook's secret;
a 500 is retried after the backoff and then delivered; a receiver that never answers fails the
delivery after the last retry; every attempt's status is kept."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from tests.helpers import free_port
from tests.unit.controllers.deployment_world import World

from yun.controllers.webhooks import BACKOFF, WebhookController
from yun.store import events
from yun.store.models import App, Webhook, WebhookDelivery

SECRET = "receiver-shared-secret"


class Receiver:
    """An HTTP server that answers with the statuses it is given, in turn (then 200), and
    keeps every request."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers.items()), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/yun"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Clock:
    """Starts now (the events' times are real), moved on by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path)
    try:
        made.push(instances=1)
        yield made
    finally:
        made.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def hook(world: World, url: str, kinds: list[str]) -> str:
    with world.store.session() as session:
        made = Webhook(space_guid=world.defaults.space_guid, url=url, secret=SECRET, kinds=kinds)
        session.add(made)
        session.flush()
        return made.guid


def happen(world: World, type_: str, **data: Any) -> None:
    with world.store.session() as session:
        events.record(session, type=type_, app=session.get(App, world.app_guid), data=data)


def deliveries(world: World) -> list[WebhookDelivery]:
    with world.store.session() as session:
        rows = list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)))
        for row in rows:
            session.expunge(row)
        return rows


def test_a_signed_delivery_is_retried_after_a_500(world: World, receiver: Receiver) -> None:
    clock = Clock()
    controller = WebhookController(store=world.store, clock=clock)
    controller.reconcile("webhooks")  # the first pass starts after the events there are
    hook(world, receiver.url, ["task", "deploy"])
    receiver.statuses = [500]
    happen(world, "app.task.failed", task=3, name="migrate", exit_code=1)
    happen(world, "app.crash", index=0)  # a kind this webhook did not ask for

    controller.reconcile("webhooks")
    (delivery,) = deliveries(world)
    assert (delivery.state, delivery.kind, delivery.event_type) == (
        "PENDING",
        "task",
        "app.task.failed",
    )
    assert delivery.attempts == [[clock.now, 500, "answered 500"]]
    assert delivery.next_attempt_at == clock.now + BACKOFF[0]

    controller.reconcile("webhooks")  # not due yet
    assert len(receiver.requests) == 1
    clock.now += BACKOFF[0]
    controller.reconcile("webhooks")

    (delivery,) = deliveries(world)
    assert delivery.state == "DELIVERED"
    assert [status for _, status, _ in delivery.attempts] == [500, 200]
    assert len(receiver.requests) == 2
    headers, body = receiver.requests[-1]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Yun-Signature-256"] == expected
    assert headers["X-Yun-Event"] == "task" and headers["X-Yun-Delivery"] == delivery.guid
    assert headers["Content-Type"] == "application/json"
    sent = json.loads(body)
    assert sent["delivery"] == delivery.guid
    assert sent["event"]["type"] == "app.task.failed"
    assert sent["event"]["data"] == {"task": 3, "name": "migrate", "exit_code": 1}
    assert sent["app"]["name"] == "web"
    assert sent["space"]["guid"] == world.defaults.space_guid
    assert receiver.requests[0][1] == body  # a retry sends the same body


def test_a_receiver_that_never_answers_fails_the_delivery_after_the_retries(
    world: World,
) -> None:
    clock = Clock()
    controller = WebhookController(store=world.store, clock=clock)
    controller.reconcile("webhooks")
    hook(world, f"http://127.0.0.1:{free_port()}/nobody", ["scale"])
    happen(world, "audit.app.process.scale", instances=3)

    for _ in range(len(BACKOFF) + 3):
        controller.reconcile("webhooks")
        clock.now += max(BACKOFF)

    (delivery,) = deliveries(world)
    assert delivery.state == "FAILED"
    assert len(delivery.attempts) == len(BACKOFF) + 1
    assert all(status is None and "ConnectError" in error for _, status, error in delivery.attempts)


def test_a_quiet_store_with_nothing_due_is_not_read(world: World, receiver: Receiver) -> None:
    """No new event (the store was not written) and no retry due: the pass reads nothing; an
    event written afterwards is delivered by the next pass."""
    clock = Clock()
    controller = WebhookController(store=world.store, clock=clock)
    controller.reconcile("webhooks")
    hook(world, receiver.url, ["scale"])
    controller.reconcile("webhooks")
    statements: list[str] = []
    event.listen(world.store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    controller.reconcile("webhooks")
    assert statements == []
    happen(world, "audit.app.process.scale", instances=3)
    controller.reconcile("webhooks")
    assert len(receiver.requests) == 1
