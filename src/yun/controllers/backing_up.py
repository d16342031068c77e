"""The backup controller: dumps service instances into the blobstore and restores them.

`yun service-backup` records a PENDING backup; this controller asks the instance's broker for
a dump (Yun's extension of the broker API, served by the built-in brokers), stores it in the
blobstore and marks it READY. A restore asked of a READY backup sends the dump back. Instances
with a schedule (`backup_every`) get a backup when their newest one is that old, and keep their
`backups_kept` newest scheduled ones.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from yun.blobstore import BlobStore
from yun.brokers.client import BrokerError
from yun.controllers.brokering import ClientFactory, Target, clock, default_clients, target_of
from yun.controllers.runtime.managing import Result
from yun.store import events
from yun.store.models import ServiceBackup, ServiceInstance
from yun.store.session import Store

log = logging.getLogger("yun.controllers.backups")
SCHEDULE = "schedule"


class BackupController:
    prefix = "backups"

    def __init__(
        self,
        *,
        store: Store,
        blobs: BlobStore,
        work_dir: Path,
        clients: ClientFactory = default_clients,
        now: Callable[[], float] = clock,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.work_dir = work_dir
        self.clients = clients
        self.now = now

    def reconcile(self, key: str) -> Result:
        next_due = self._schedule()
        with self.store.session() as session:
            pending = [
                b.guid
                for b in session.scalars(select(ServiceBackup).order_by(ServiceBackup.created_at))
                if b.state == "PENDING" or b.restore.get("state") == "PENDING"
            ]
        for guid in pending:
            self._run(guid)
        self._prune()
        return Result(requeue_after=next_due)

    def _schedule(self) -> float | None:
        """Record the backups schedules ask for now; seconds until the next one is due."""
        now, waits = self.now(), []
        with self.store.session() as session:
            for instance in session.scalars(
                select(ServiceInstance).where(ServiceInstance.backup_every.is_not(None))
            ):
                every = float(instance.backup_every or 0)
                newest = session.scalar(
                    select(ServiceBackup.created_at)
                    .where(
                        ServiceBackup.service_instance_guid == instance.guid,
                        ServiceBackup.state != "FAILED",
                    )
                    .order_by(ServiceBackup.created_at.desc())
                    .limit(1)
                )
                due = (newest or 0.0) + every
                if due <= now and instance.last_operation.get("state") == "succeeded":
                    session.add(
                        ServiceBackup(
                            service_instance_guid=instance.guid,
                            created_by=SCHEDULE,
                            created_at=now,
                        )
                    )
                    due = now + every
                waits.append(max(1.0, due - now))
        return min(waits) if waits else None

    def _run(self, guid: str) -> None:
        with self.store.session() as session:
            backup = session.get(ServiceBackup, guid)
            instance = (
                session.get(ServiceInstance, backup.service_instance_guid) if backup else None
            )
            if backup is None or instance is None:
                return
            target = target_of(session, instance)
            restoring = backup.state == "READY" and backup.restore.get("state") == "PENDING"
            blob, fmt = backup.blob, backup.format
        if target is None:
            self._end(guid, restoring=restoring, error="this service has no broker to ask")
            return
        try:
            if restoring:
                self._restore(target, blob=blob, fmt=fmt)
                self._end(guid, restoring=True)
            else:
                self._end(guid, restoring=False, **self._dump(target))
        except BrokerError as exc:
            self._end(guid, restoring=restoring, error=str(exc))

    def _dump(self, target: Target) -> dict[str, Any]:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.work_dir) as scratch:
            dump = Path(scratch) / "dump"
            with self.clients(target.broker) as client:
                fmt = client.backup(target.instance_guid, dump)
            return {"blob": self.blobs.put_file(dump), "size": dump.stat().st_size, "fmt": fmt}

    def _restore(self, target: Target, *, blob: str, fmt: str) -> None:
        if not self.blobs.exists(blob):
            raise BrokerError("the backup's file is gone from the blobstore")
        with self.clients(target.broker) as client:
            client.restore(target.instance_guid, self.blobs.path(blob), format=fmt)

    def _end(
        self,
        guid: str,
        *,
        restoring: bool,
        error: str = "",
        blob: str = "",
        size: int = 0,
        fmt: str = "",
    ) -> None:
        with self.store.session() as session:
            backup = session.get(ServiceBackup, guid)
            instance = (
                session.get(ServiceInstance, backup.service_instance_guid) if backup else None
            )
            if backup is None or instance is None:
                return
            if restoring:
                state = "FAILED" if error else "SUCCEEDED"
                backup.restore = {
                    **backup.restore,
                    "state": state,
                    "error": error,
                    "at": self.now(),
                }
                kind = "restore"
            else:
                backup.state = "FAILED" if error else "READY"
                backup.error = error
                backup.blob, backup.size, backup.format = blob, size, fmt
                kind = "backup"
            events.record_service(
                session,
                type=f"audit.service_instance.{kind}",
                instance=instance,
                actor=backup.created_by,
                data={"backup": guid, "error": error},
            )

    def _prune(self) -> None:
        """Scheduled backups beyond each instance's `backups_kept` go, oldest first."""
        with self.store.session() as session:
            for instance in session.scalars(select(ServiceInstance)):
                scheduled = list(
                    session.scalars(
                        select(ServiceBackup)
                        .where(
                            ServiceBackup.service_instance_guid == instance.guid,
                            ServiceBackup.created_by == SCHEDULE,
                            ServiceBackup.state != "PENDING",
                        )
                        .order_by(ServiceBackup.created_at.desc())
                    )
                )
                for backup in scheduled[instance.backups_kept :]:
                    session.delete(backup)
                    session.flush()
                    forget_blob(session, self.blobs, backup.blob)


def forget_blob(session: Any, blobs: BlobStore, blob: str) -> None:
    """Delete a backup's blob unless another backup holds the same bytes."""
    if not blob:
        return
    still = session.scalar(select(ServiceBackup.guid).where(ServiceBackup.blob == blob).limit(1))
    if still is None:
        blobs.delete(blob)
