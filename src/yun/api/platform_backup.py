"""`POST /v3/admin/backup`: the whole platform's state as one archive (`yun backup FILE`); see
`store/dumps.py`. Admins only: the archive holds every secret.

Every built-in service instance is dumped first, by its broker (the same dump as `yun
service-backup`); one that cannot be fails the whole backup with its reason, since an archive
without it could not bring that service's data back."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from yun.api.auth import Ctx, CurrentUser
from yun.api.context import ApiContext
from yun.api.errors import ApiError
from yun.brokers.client import Broker, BrokerError
from yun.store import events
from yun.store.dumps import ServiceDump, write
from yun.store.models import ServiceBroker, ServiceInstance
from yun.store.services import offering_and_plan

router = APIRouter()
CHUNK = 1 << 20


@router.post(
    "/v3/admin/backup",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/gzip": {}}, "description": "the archive"}},
)
async def backup(ctx: Ctx, user: CurrentUser) -> StreamingResponse:
    ctx.settings.home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ctx.settings.home, prefix=".backup-") as scratch:
        services = await run_in_threadpool(_dump_services, ctx, Path(scratch))
        spool = tempfile.TemporaryFile()  # noqa: SIM115 (the response's generator closes it)
        counts = await run_in_threadpool(
            write,
            ctx.store,
            spool,
            blobs_dir=ctx.settings.blobs_dir,
            registry_dir=ctx.settings.registry_dir,
            services=services,
        )
    size = spool.tell()
    spool.seek(0)
    with ctx.store.session() as session:
        events.record(
            session,
            type="audit.platform.backup",
            app=None,
            actor=user.name,
            data={**counts, "bytes": size},
        )
    return StreamingResponse(
        _chunks(spool),
        media_type="application/gzip",
        headers={
            "Content-Length": str(size),
            "X-Yun-Backup": ",".join(f"{k}={v}" for k, v in counts.items()),
        },
    )


def _dump_services(ctx: ApiContext, scratch: Path) -> list[ServiceDump]:
    """A dump of every built-in service instance that exists (its creation succeeded)."""
    wanted: list[tuple[str, str, str, Broker]] = []
    with ctx.store.session() as session:
        builtin = {
            b.guid: Broker(name=b.name, url=b.url, username=b.username, password=b.password)
            for b in session.scalars(select(ServiceBroker).where(ServiceBroker.builtin))
        }
        for instance in session.scalars(
            select(ServiceInstance).where(ServiceInstance.kind == "managed")
        ):
            offering, _ = offering_and_plan(session, instance)
            op = instance.last_operation
            made = op.get("type") != "create" or op.get("state") == "succeeded"
            if offering is not None and offering.broker_guid in builtin and made:
                broker = builtin[offering.broker_guid]
                wanted.append((instance.guid, instance.name, offering.name, broker))
    dumps = []
    for guid, name, offering_name, broker in wanted:
        target = scratch / guid
        try:
            with ctx.broker_clients(broker) as client:
                fmt = client.backup(guid, target)
        except BrokerError as exc:
            raise ApiError(
                502, f"service {name} could not be backed up, so neither can the platform: {exc}"
            ) from None
        dumps.append(
            ServiceDump(
                guid=guid,
                name=name,
                offering=offering_name,
                format=fmt,
                size=target.stat().st_size,
                path=str(target),
            )
        )
    return dumps


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := spool.read(CHUNK):
            yield chunk
    finally:
        spool.close()
