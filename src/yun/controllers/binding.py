"""The binding controller: gets credentials for app bindings and service keys from the broker,
and revokes them, following each binding's `last_operation` like the instance controller does.

A bind that failed in a way that may have left credentials behind (a timeout, a 5xx, an
unreadable success) is followed by an unbind (orphan mitigation). Bindings of user-provided
services never come here: the API copies the service's credentials into them at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from yun.brokers.client import BrokerClient, BrokerError, Outcome
from yun.controllers.brokering import (
    ClientFactory,
    Target,
    clock,
    default_clients,
    overdue,
    schedule_poll,
    target_of,
    wait_left,
)
from yun.controllers.runtime.managing import Result
from yun.store import events
from yun.store.models import ServiceBinding, ServiceInstance
from yun.store.services import BUSY
from yun.store.session import Store

log = logging.getLogger("yun.controllers.bindings")
SERVICE_WAIT = 1.0


@dataclass(frozen=True)
class _Work:
    target: Target
    op: dict[str, Any]
    app_guid: str | None
    parameters: dict[str, Any]
    actor: str


class BindingController:
    prefix = "bindings"

    def __init__(
        self,
        *,
        store: Store,
        wake: Callable[[str], None] = lambda key: None,
        clients: ClientFactory = default_clients,
        now: Callable[[], float] = clock,
    ) -> None:
        self.store = store
        self.wake = wake
        self.clients = clients
        self.now = now

    def reconcile(self, key: str) -> Result:
        _, _, guid = key.partition(":")
        with self.store.session() as session:
            query = select(ServiceBinding)
            if guid:
                query = query.where(ServiceBinding.guid == guid)
            guids = [
                b.guid for b in session.scalars(query) if b.last_operation.get("state") in BUSY
            ]
        waits = [w for w in (self._step(g) for g in guids) if w is not None]
        return Result(requeue_after=min(waits)) if waits else Result()

    def _work(self, guid: str) -> _Work | str | float | None:
        """What to send for the binding; a reason it cannot be done, or seconds to wait for
        its service to be created; None when the binding is gone."""
        with self.store.session() as session:
            binding = session.get(ServiceBinding, guid)
            if binding is None:
                return None
            instance = session.get(ServiceInstance, binding.service_instance_guid)
            target = target_of(session, instance) if instance else None
            if target is None:
                return "its service, broker or plan is gone"
            made = instance.last_operation if instance else {}
            if binding.last_operation.get("type") == "create" and made.get("type") == "create":
                if made.get("state") in BUSY:
                    return SERVICE_WAIT  # made by a push together with its service
                if made.get("state") == "failed":
                    return f"the service failed to be created: {made.get('description') or '?'}"
            return _Work(
                target=target,
                op=dict(binding.last_operation),
                app_guid=binding.app_guid,
                parameters=dict(binding.parameters),
                actor=binding.created_by,
            )

    def _step(self, guid: str) -> float | None:
        work = self._work(guid)
        if work is None or isinstance(work, float):
            return work
        if isinstance(work, str):
            # Nothing to ask a broker any more: a delete is done, anything else failed.
            with self.store.session() as session:
                binding = session.get(ServiceBinding, guid)
                if binding is not None and binding.last_operation.get("type") == "delete":
                    session.delete(binding)
                    return None
            return self._finish(guid, {"type": "create"}, "failed", work)
        op, target, now = work.op, work.target, self.now()
        if op.get("state") == "in progress":
            if (left := wait_left(op, now)) > 0:
                return left
            return self._poll(guid, work)
        with self.clients(target.broker) as client:
            try:
                outcome = self._send(client, guid, work)
            except BrokerError as exc:
                if op["type"] == "create" and exc.orphan:
                    self._mitigate(client, guid, target)
                    return self._finish(
                        guid, op, "failed", f"{exc}; the platform asked the broker to clean up"
                    )
                return self._finish(guid, op, "failed", str(exc))
        if outcome.done:
            return self._finish(guid, op, "succeeded", "", body=dict(outcome.body))
        polled = schedule_poll(op, retry_after=outcome.retry_after, now=now)
        self._record(guid, {**polled, "operation": outcome.operation})
        return wait_left(polled, now)

    def _send(self, client: BrokerClient, guid: str, work: _Work) -> Outcome:
        ids = {"service_id": work.target.service_id, "plan_id": work.target.plan_id}
        if work.op["type"] == "create":
            return client.bind(
                work.target.instance_guid,
                guid,
                **ids,
                app_guid=work.app_guid,
                parameters=work.parameters,
                actor=work.actor,
            )
        return client.unbind(work.target.instance_guid, guid, **ids, actor=work.actor)

    def _poll(self, guid: str, work: _Work) -> float | None:
        op, target, now = work.op, work.target, self.now()
        with self.clients(target.broker) as client:
            if overdue(op, max_polling=target.max_polling, now=now):
                if op["type"] == "create":
                    self._mitigate(client, guid, target)
                return self._finish(
                    guid,
                    op,
                    "failed",
                    f"the broker did not finish within {target.max_polling:.0f} s (its plan's"
                    " maximum_polling_duration); it may still be at work: see the broker's log",
                )
            try:
                last = client.last_operation(
                    target.instance_guid,
                    binding_id=guid,
                    service_id=target.service_id,
                    plan_id=target.plan_id,
                    operation=str(op.get("operation") or ""),
                )
                if last.state == "in progress":
                    polled = schedule_poll(op, retry_after=last.retry_after, now=now)
                    self._record(guid, {**polled, "description": last.description})
                    return wait_left(polled, now)
                if last.state == "succeeded" and op["type"] == "create" and not last.gone:
                    body = client.fetch_binding(target.instance_guid, guid)
                    return self._finish(guid, op, "succeeded", last.description, body=body)
            except BrokerError as exc:
                log.info("polling binding %s: %s", guid, exc)
                polled = schedule_poll(op, retry_after=None, now=now)
                self._record(guid, polled)
                return wait_left(polled, now)
        if last.gone and op["type"] == "create":
            return self._finish(guid, op, "failed", "the broker no longer knows this binding")
        return self._finish(guid, op, last.state, last.description)

    def _mitigate(self, client: BrokerClient, guid: str, target: Target) -> None:
        try:
            client.unbind(
                target.instance_guid, guid, service_id=target.service_id, plan_id=target.plan_id
            )
        except BrokerError as exc:
            log.warning("orphan mitigation for binding %s failed: %s", guid, exc)

    def _record(self, guid: str, op: dict[str, Any]) -> None:
        with self.store.session() as session:
            binding = session.get(ServiceBinding, guid)
            if binding is not None:
                binding.last_operation = op

    def _finish(
        self,
        guid: str,
        op: dict[str, Any],
        state: str,
        description: str,
        *,
        body: dict[str, Any] | None = None,
    ) -> float | None:
        """End the operation; returns None: there is nothing left to wait for."""
        with self.store.session() as session:
            binding = session.get(ServiceBinding, guid)
            if binding is None:
                return None
            instance = session.get(ServiceInstance, binding.service_instance_guid)
            if op["type"] == "delete" and state == "succeeded":
                session.delete(binding)
            else:
                ended = {k: v for k, v in op.items() if k not in ("poll_at", "polls")}
                ended.update(state=state, description=description, ended_at=self.now())
                binding.last_operation = ended
                if body is not None:
                    credentials = body.get("credentials")
                    binding.credentials = dict(credentials) if isinstance(credentials, dict) else {}
                    binding.syslog_drain_url = str(body.get("syslog_drain_url") or "")
            if instance is not None:
                events.record_service(
                    session,
                    type=f"audit.service_binding.{op['type']}",
                    instance=instance,
                    actor=binding.created_by,
                    data={"binding": binding.name, "state": state, "description": description},
                )
        return None
