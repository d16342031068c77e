"""Backups of service instances: `yun service-backup`, `yun service-backups`,
`yun service-restore`. The API records what is wanted; the backup controller does it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError, not_found
from yun.api.service_instances import get_instance
from yun.store import events
from yun.store.models import ServiceBackup, ServiceInstance
from yun.store.services import USER_PROVIDED, busy

router = APIRouter()


def backup_view(backup: ServiceBackup) -> dict[str, Any]:
    return {
        "guid": backup.guid,
        "service_instance_guid": backup.service_instance_guid,
        "state": backup.state,
        "size": backup.size,
        "format": backup.format,
        "error": backup.error,
        "restore": dict(backup.restore),
        "created_by": backup.created_by,
        "created_at": backup.created_at,
    }


def _backup(session: Session, guid: str) -> ServiceBackup:
    backup = session.get(ServiceBackup, guid)
    if backup is None:
        raise not_found(f"backup {guid}")
    return backup


def _check_ready(instance: ServiceInstance) -> None:
    if instance.kind == USER_PROVIDED:
        raise ApiError(422, f"service {instance.name} is user-provided: its data is not here")
    op = instance.last_operation
    if busy(op) or (op.get("type") == "create" and op.get("state") != "succeeded"):
        raise ApiError(409, f"service {instance.name} is busy or not created; try later")


@router.post("/v3/service_instances/{guid}/backups", status_code=202)
def create_backup(guid: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        instance = get_instance(session, guid)
        _check_ready(instance)
        backup = ServiceBackup(service_instance_guid=guid, created_by=user.name)
        session.add(backup)
        session.flush()
        view = backup_view(backup)
    ctx.wake(f"backups:{view['guid']}")
    return view


@router.get("/v3/service_instances/{guid}/backups")
def list_backups(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        get_instance(session, guid)
        found = session.scalars(
            select(ServiceBackup)
            .where(ServiceBackup.service_instance_guid == guid)
            .order_by(ServiceBackup.created_at.desc())
        )
        return {"resources": [backup_view(b) for b in found]}


@router.get("/v3/service_backups/{guid}")
def show_backup(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        return backup_view(_backup(session, guid))


@router.post("/v3/service_backups/{guid}/actions/restore", status_code=202)
def restore_backup(guid: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        backup = _backup(session, guid)
        instance = get_instance(session, backup.service_instance_guid)
        _check_ready(instance)
        if backup.state != "READY":
            raise ApiError(422, f"backup {guid} is {backup.state.lower()}; it cannot be restored")
        if backup.restore.get("state") == "PENDING":
            raise ApiError(409, f"backup {guid} is being restored already")
        backup.restore = {"state": "PENDING", "error": "", "by": user.name}
        events.record_service(
            session,
            type="audit.service_instance.restore_request",
            instance=instance,
            actor=user.name,
            data={"backup": guid},
        )
        view = backup_view(backup)
    ctx.wake(f"backups:{guid}")
    return view
