"""The service instance controller: carries each managed service's last operation out at its
broker — create, update, delete — and polls the asynchronous ones until they end.

It looks at the instance's `last_operation` only, so running it twice does nothing new: an
"initial" operation is sent once (a crash between sending and recording sends it again, which
OSB brokers must answer idempotently: 200 for an identical provision, 410 for a gone instance).
A provision that failed in a way that may have left something behind (a timeout, a 5xx, an
unreadable success) is followed by a deprovision — the spec's orphan mitigation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from yun.brokers.client import BrokerClient, BrokerError, Outcome
from yun.controllers.brokering import (
    ClientFactory,
    Target,
    clock,
    default_clients,
    overdue,
    plan_ids,
    schedule_poll,
    target_of,
    wait_left,
)
from yun.controllers.runtime.managing import Result
from yun.store import events
from yun.store.models import ServiceBackup, ServiceInstance
from yun.store.services import BUSY
from yun.store.session import Store

log = logging.getLogger("yun.controllers.services")


class ServiceInstanceController:
    prefix = "services"

    def __init__(
        self,
        *,
        store: Store,
        wake: Callable[[str], None] = lambda key: None,
        clients: ClientFactory = default_clients,
        now: Callable[[], float] = clock,
        forget_blobs: Callable[[list[str]], None] = lambda blobs: None,
    ) -> None:
        self.forget_blobs = forget_blobs
        self.store = store
        self.wake = wake
        self.clients = clients
        self.now = now

    def reconcile(self, key: str) -> Result:
        _, _, guid = key.partition(":")
        with self.store.session() as session:
            query = select(ServiceInstance.guid).where(ServiceInstance.kind == "managed")
            if guid:
                query = query.where(ServiceInstance.guid == guid)
            guids = [
                instance.guid
                for instance in session.scalars(
                    select(ServiceInstance).where(ServiceInstance.guid.in_(query))
                )
                if instance.last_operation.get("state") in BUSY
            ]
        waits = [w for w in (self._step(g) for g in guids) if w is not None]
        return Result(requeue_after=min(waits)) if waits else Result()

    def _step(self, guid: str) -> float | None:
        """Move one instance's operation on; seconds until it wants looking at again."""
        with self.store.session() as session:
            instance = session.get(ServiceInstance, guid)
            if instance is None:
                return None
            op = dict(instance.last_operation)
            target = target_of(session, instance)
            pending = dict(instance.pending)
            new_plan = plan_ids(session, pending["plan_guid"]) if pending.get("plan_guid") else None
            parameters = dict(instance.parameters)
            actor = instance.created_by
        now = self.now()
        if target is None:
            return self._finish(guid, op, "failed", "its broker, offering or plan is gone")
        if op.get("state") == "in progress":
            if (left := wait_left(op, now)) > 0:
                return left
            return self._poll(guid, op, target)
        with self.clients(target.broker) as client:
            try:
                outcome = self._send(
                    client,
                    op,
                    target,
                    pending=pending,
                    new_plan=new_plan,
                    parameters=parameters,
                    actor=actor,
                )
            except BrokerError as exc:
                if op["type"] == "create" and exc.orphan:
                    self._mitigate(client, target)
                    return self._finish(
                        guid, op, "failed", f"{exc}; the platform asked the broker to clean up"
                    )
                return self._finish(guid, op, "failed", str(exc))
        if outcome.done:
            return self._finish(guid, op, "succeeded", "", body=dict(outcome.body))
        self._record(
            guid,
            {
                **schedule_poll(op, retry_after=outcome.retry_after, now=now),
                "operation": outcome.operation,
            },
            body=dict(outcome.body),
        )
        return wait_left(op, now) or 0.1

    def _send(
        self,
        client: BrokerClient,
        op: dict[str, Any],
        target: Target,
        *,
        pending: dict[str, Any],
        new_plan: Any,
        parameters: dict[str, Any],
        actor: str,
    ) -> Outcome:
        ids = {"service_id": target.service_id}
        if op["type"] == "create":
            return client.provision(
                target.instance_guid,
                **ids,
                plan_id=target.plan_id,
                parameters=parameters,
                context=target.context,
                actor=actor,
            )
        if op["type"] == "update":
            plan_id = new_plan[1].broker_id if new_plan else target.plan_id
            return client.update(
                target.instance_guid,
                **ids,
                plan_id=plan_id,
                previous_plan_id=target.plan_id,
                parameters=dict(pending.get("parameters") or {}),
                actor=actor,
            )
        return client.deprovision(target.instance_guid, **ids, plan_id=target.plan_id, actor=actor)

    def _poll(self, guid: str, op: dict[str, Any], target: Target) -> float | None:
        now = self.now()
        if overdue(op, max_polling=target.max_polling, now=now):
            with self.clients(target.broker) as client:
                if op["type"] == "create":
                    self._mitigate(client, target)
            return self._finish(
                guid,
                op,
                "failed",
                f"the broker did not finish within {target.max_polling:.0f} s (its plan's"
                " maximum_polling_duration); it may still be at work: see the broker's log",
            )
        with self.clients(target.broker) as client:
            try:
                last = client.last_operation(
                    target.instance_guid,
                    service_id=target.service_id,
                    plan_id=target.plan_id,
                    operation=str(op.get("operation") or ""),
                )
            except BrokerError as exc:
                log.info("polling %s: %s", guid, exc)
                self._record(guid, schedule_poll(op, retry_after=None, now=now))
                return wait_left(schedule_poll(op, retry_after=None, now=now), now)
        if last.gone and op["type"] != "delete":
            return self._finish(guid, op, "failed", "the broker no longer knows this service")
        if last.state == "in progress":
            polled = schedule_poll(op, retry_after=last.retry_after, now=now)
            self._record(guid, {**polled, "description": last.description})
            return wait_left(polled, now)
        return self._finish(guid, op, last.state, last.description)

    def _mitigate(self, client: BrokerClient, target: Target) -> None:
        try:
            client.deprovision(
                target.instance_guid, service_id=target.service_id, plan_id=target.plan_id
            )
        except BrokerError as exc:
            log.warning("orphan mitigation for %s failed: %s", target.instance_guid, exc)

    def _record(self, guid: str, op: dict[str, Any], *, body: dict[str, Any] | None = None) -> None:
        with self.store.session() as session:
            instance = session.get(ServiceInstance, guid)
            if instance is not None:
                instance.last_operation = op
                if body and body.get("dashboard_url"):
                    instance.dashboard_url = str(body["dashboard_url"])

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
        blobs: list[str] = []
        with self.store.session() as session:
            instance = session.get(ServiceInstance, guid)
            if instance is None:
                return None
            if op["type"] == "delete" and state == "succeeded":
                events.record_service(
                    session, type="audit.service_instance.delete", instance=instance
                )
                backups = list(
                    session.scalars(
                        select(ServiceBackup).where(ServiceBackup.service_instance_guid == guid)
                    )
                )
                blobs = [backup.blob for backup in backups if backup.blob]
                for backup in backups:
                    session.delete(backup)
                session.delete(instance)
            else:
                self._settle(instance, op, state, description, body=body)
                events.record_service(
                    session,
                    type=f"audit.service_instance.{op['type']}",
                    instance=instance,
                    data={"state": state, "description": description},
                )
        if blobs:
            self.forget_blobs(blobs)  # the data went with the service; so do its backups
        if op["type"] == "create":
            self.wake("bindings")  # a push may have bound the service before it existed
        return None

    def _settle(
        self,
        instance: ServiceInstance,
        op: dict[str, Any],
        state: str,
        description: str,
        *,
        body: dict[str, Any] | None,
    ) -> None:
        """An instance whose operation ended and that stays: record how it ended."""
        ended = {key: value for key, value in op.items() if key not in ("poll_at", "polls")}
        ended.update(state=state, description=description, ended_at=self.now())
        if op["type"] == "update" and state == "succeeded":
            if instance.pending.get("plan_guid"):
                instance.plan_guid = str(instance.pending["plan_guid"])
            if "parameters" in instance.pending:
                instance.parameters = dict(instance.pending["parameters"] or {})
        if op["type"] == "update":
            instance.pending = {}
        if body and body.get("dashboard_url"):
            instance.dashboard_url = str(body["dashboard_url"])
        instance.last_operation = ended
