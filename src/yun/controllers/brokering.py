"""What the service controllers share: reaching a broker and polling its operations.

Asynchronous broker work is polled with `last_operation`: soon at first, then less and less
often (`POLL_DELAYS`), sooner if the broker's `Retry-After` says so, until the plan's
`maximum_polling_duration` (else `MAX_POLLING`) runs out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from yun.brokers.client import Broker, BrokerClient
from yun.store.models import ServiceBroker, ServiceInstance, ServiceOffering, ServicePlan
from yun.store.services import offering_and_plan

POLL_DELAYS = (0.2, 0.3, 0.5, 1.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 30.0)
MAX_POLLING = 24 * 3600.0

ClientFactory = Callable[[Broker], BrokerClient]


def default_clients(broker: Broker) -> BrokerClient:
    return BrokerClient(broker)


@dataclass(frozen=True)
class Target:
    """What a request about one service instance needs, read in one short transaction."""

    broker: Broker
    instance_guid: str
    service_id: str
    plan_id: str
    max_polling: float
    context: dict[str, Any]


def target_of(session: Session, instance: ServiceInstance) -> Target | None:
    offering, plan = offering_and_plan(session, instance)
    broker = session.get(ServiceBroker, offering.broker_guid) if offering else None
    if offering is None or plan is None or broker is None:
        return None
    return Target(
        broker=Broker(
            name=broker.name, url=broker.url, username=broker.username, password=broker.password
        ),
        instance_guid=instance.guid,
        service_id=offering.broker_id,
        plan_id=plan.broker_id,
        max_polling=float(plan.extra.get("maximum_polling_duration") or MAX_POLLING),
        context={"platform": "yun", "space_guid": instance.space_guid},
    )


def plan_ids(session: Session, plan_guid: str) -> tuple[ServiceOffering, ServicePlan] | None:
    plan = session.get(ServicePlan, plan_guid)
    offering = session.get(ServiceOffering, plan.offering_guid) if plan else None
    return (offering, plan) if offering and plan else None


def schedule_poll(
    operation: dict[str, Any], *, retry_after: float | None, now: float
) -> dict[str, Any]:
    """The operation with its next poll time set; one more poll counted."""
    polls = int(operation.get("polls", 0))
    delay = POLL_DELAYS[min(polls, len(POLL_DELAYS) - 1)]
    if retry_after is not None:
        delay = max(0.1, min(retry_after, POLL_DELAYS[-1] * 4))
    return {**operation, "state": "in progress", "polls": polls + 1, "poll_at": now + delay}


def wait_left(operation: dict[str, Any], now: float) -> float:
    return max(0.0, float(operation.get("poll_at", 0.0)) - now)


def overdue(operation: dict[str, Any], *, max_polling: float, now: float) -> bool:
    return now - float(operation.get("started_at", now)) > max_polling


def clock() -> float:
    return time.time()
