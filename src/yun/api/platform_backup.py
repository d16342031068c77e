"""`POST /v3/admin/backup`: the whole platform's state as one archive (`yun backup FILE`); see
`store/dumps.py`. Admins only: the archive holds every secret."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from yun.api.auth import Ctx, CurrentUser
from yun.store import events
from yun.store.dumps import write

router = APIRouter()
CHUNK = 1 << 20


@router.post("/v3/admin/backup")
async def backup(ctx: Ctx, user: CurrentUser) -> StreamingResponse:
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (the response's generator closes it)
    counts = await run_in_threadpool(
        write,
        ctx.store,
        spool,
        blobs_dir=ctx.settings.blobs_dir,
        registry_dir=ctx.settings.registry_dir,
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


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := spool.read(CHUNK):
            yield chunk
    finally:
        spool.close()
