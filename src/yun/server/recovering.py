"""The built-in services of a restored platform, brought back by the first `yun server` after
`yun restore`, before any app starts.

The restore left, for each built-in service instance of the archive, a service backup holding
its dump whose restore is pending (made by `RESTORED_BY`). The new machine's broker has never
heard of those instances, and the credentials their bindings hold name the old machine's
servers. So each instance is created anew at the built-in broker (same guid, plan and
parameters), its dump loaded, and each of its bindings and service keys made again, with the
new credentials stored on them. The apps bound to them then get a revision with the new
credentials, which is what they start with. An instance that cannot be brought back is marked
failed, saying why; the others go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from yun.blobstore import BlobStore
from yun.brokers.builtin.base import BackendError
from yun.brokers.builtin.osb_operations import Operations, OsbError
from yun.store import events
from yun.store.dumps import RESTORED_BY
from yun.store.models import App, ServiceBackup, ServiceBinding, ServiceInstance
from yun.store.releases import Plan, next_revision, roll_out
from yun.store.services import offering_and_plan
from yun.store.session import Store

log = logging.getLogger("yun.server.recovering")
POLL = 0.2


class RecoveryError(Exception):
    """One instance could not be brought back; the message says why."""


@dataclass(frozen=True)
class _Pending:
    backup: str
    instance: str
    name: str
    service_id: str
    plan_id: str
    parameters: dict[str, Any]
    context: dict[str, Any]
    dump: Path
    format: str
    bindings: tuple[tuple[str, str | None, dict[str, Any]], ...]  # guid, app, parameters


def recover_services(
    store: Store,
    broker: Operations,
    blobs: BlobStore,
    *,
    wait: float = 600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Bring back every instance a restore left pending; the names of those that came back."""
    with store.session() as session:
        pending = [
            found
            for backup in session.scalars(
                select(ServiceBackup).where(ServiceBackup.created_by == RESTORED_BY)
            )
            if backup.restore.get("state") == "PENDING"
            and (found := _pending(session, backup, blobs)) is not None
        ]
    recovered, apps = [], set()
    for work in pending:
        log.info("re-creating service %s from the platform backup", work.name)
        try:
            credentials = _recreate(broker, work, wait=wait, sleep=sleep)
        except RecoveryError as exc:
            log.warning("service %s was not brought back: %s", work.name, exc)
            _failed(store, work, str(exc))
            continue
        apps |= _recovered(store, work, credentials)
        recovered.append(work.name)
    if apps:
        _new_revisions(store, apps)
    return recovered


def _pending(session: Any, backup: ServiceBackup, blobs: BlobStore) -> _Pending | None:
    instance = session.get(ServiceInstance, backup.service_instance_guid)
    offering, plan = offering_and_plan(session, instance) if instance else (None, None)
    if instance is None or offering is None or plan is None:
        return None
    bindings = session.scalars(
        select(ServiceBinding).where(ServiceBinding.service_instance_guid == instance.guid)
    )
    return _Pending(
        backup=backup.guid,
        instance=instance.guid,
        name=instance.name,
        service_id=offering.broker_id,
        plan_id=plan.broker_id,
        parameters=dict(instance.parameters),
        context={"platform": "yun", "space_guid": instance.space_guid},
        dump=blobs.path(backup.blob),
        format=backup.format,
        bindings=tuple(
            (b.guid, b.app_guid, dict(b.parameters))
            for b in bindings
            if b.last_operation.get("state") == "succeeded"
            and b.last_operation.get("type") == "create"
        ),
    )


def _recreate(
    broker: Operations, work: _Pending, *, wait: float, sleep: Callable[[float], None]
) -> dict[str, dict[str, Any]]:
    """Create, load and bind the instance; each binding's new credentials."""
    ids = {"service_id": work.service_id, "plan_id": work.plan_id}
    try:
        broker.provision(work.instance, **ids, parameters=work.parameters, context=work.context)
        deadline = time.monotonic() + wait
        while (state := broker.last_operation(work.instance, operation_id=None).body)[
            "state"
        ] == "in progress":
            if time.monotonic() > deadline:
                raise RecoveryError(f"its server was not ready within {wait:.0f} s")
            sleep(POLL)
        if state["state"] != "succeeded":
            raise RecoveryError(f"its server could not be made: {state.get('description')}")
        if not work.dump.is_file():
            raise RecoveryError("its dump is missing from the blobstore")
        broker.restore(work.instance, work.dump, backup_format=work.format)
        credentials = {}
        for guid, app_guid, parameters in work.bindings:
            reply = broker.bind(
                work.instance,
                guid,
                **ids,
                parameters=parameters,
                bind_resource={"app_guid": app_guid} if app_guid else {},
            )
            credentials[guid] = dict(reply.body.get("credentials") or {})
        return credentials
    except (OsbError, BackendError) as exc:
        raise RecoveryError(str(exc)) from None


def _recovered(store: Store, work: _Pending, credentials: dict[str, dict[str, Any]]) -> set[str]:
    """Record the new credentials and the restore; the apps bound to the instance."""
    apps = set()
    with store.session() as session:
        for guid, found in credentials.items():
            binding = session.get(ServiceBinding, guid)
            if binding is not None:
                binding.credentials = found
                if binding.app_guid:
                    apps.add(binding.app_guid)
        _end(session, work, error="")
    log.info("service %s is back with its data, %d bindings", work.name, len(credentials))
    return apps


def _failed(store: Store, work: _Pending, error: str) -> None:
    with store.session() as session:
        instance = session.get(ServiceInstance, work.instance)
        if instance is not None:
            instance.last_operation = {
                **instance.last_operation,
                "state": "failed",
                "description": f"not brought back from the platform backup: {error}",
            }
        _end(session, work, error=error)


def _end(session: Any, work: _Pending, *, error: str) -> None:
    backup = session.get(ServiceBackup, work.backup)
    instance = session.get(ServiceInstance, work.instance)
    if backup is None or instance is None:
        return
    state = "FAILED" if error else "SUCCEEDED"
    backup.restore = {"state": state, "error": error, "at": time.time()}
    events.record_service(
        session,
        type="audit.service_instance.restore",
        instance=instance,
        actor=RESTORED_BY,
        data={"backup": work.backup, "error": error},
    )


def _new_revisions(store: Store, apps: set[str]) -> None:
    """Started apps get a revision with their services' new credentials, theirs at once
    (nothing runs yet); stopped ones get it when they start."""
    with store.session() as session:
        for guid in sorted(apps):
            app = session.get(App, guid)
            if app is None or app.state != "STARTED" or app.revision_guid is None:
                continue
            revision = next_revision(
                session,
                app=app,
                actor=RESTORED_BY,
                description="services restored from the platform backup",
                always=False,
            )
            if revision is not None and revision.guid != app.revision_guid:
                roll_out(
                    session,
                    app=app,
                    revision=revision,
                    actor=RESTORED_BY,
                    plan=Plan(strategy="recreate"),
                )
