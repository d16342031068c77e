"""Stacks: which there are, what runtimes each gives, whether it is built; and rebuilding one.

`GET /v3/stacks` lists them (Cloud Foundry's `cf stacks`); on a platform that runs the process
driver the only entry is `host`, the machine's own programs. `POST /v3/stacks/NAME/build`
builds the stack anew (`yun stack update`), streaming the build's progress as text lines and
ending with `OK <seconds>` or `FAILED <reason>`: a build takes a minute or more, and the user
should see it move. Apps pick up a rebuilt stack as their instances restart.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError
from yun.stacks import HOST, STACKS, StackBuildError, StackStore
from yun.stacks.versions import host_versions

router = APIRouter()
_DONE = object()


@router.get("/v3/stacks")
def list_stacks(ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    store = ctx.stacks
    if store is None:
        host = {
            "name": HOST,
            "description": "this machine's own programs (the process driver runs apps on them)",
            "suite": "",
            "runtimes": host_versions(),
            "built": True,
            "default": True,
        }
        return {"resources": [host], "driver": ctx.driver}
    resources = []
    for name, definition in STACKS.items():
        built = store.built(name)
        info = built.info if built is not None else {}
        resources.append(
            {
                "name": name,
                "description": definition.description,
                "suite": definition.suite,
                "runtimes": info.get("runtimes") or dict(definition.runtimes),
                "built": built is not None,
                "built_at": info.get("built_at"),
                "size_bytes": info.get("size_bytes"),
                "build_seconds": info.get("seconds"),
                "default": name == ctx.settings.default_stack,
                "build_log": str(store.log_path(name)),
            }
        )
    return {"resources": resources, "driver": ctx.driver}


@router.post("/v3/stacks/{name}/build")
def build_stack(name: str, ctx: Ctx, _user: CurrentUser) -> StreamingResponse:
    store = ctx.stacks
    if store is None:
        raise ApiError(
            409, "this platform runs apps on the host's own programs (process driver): no stacks"
        )
    if name not in STACKS:
        raise ApiError(404, f"there is no stack {name!r} (stacks: {', '.join(STACKS)})")
    return StreamingResponse(_building(store, name), media_type="text/plain; charset=utf-8")


def _building(store: StackStore, name: str) -> Iterator[bytes]:
    lines: queue.Queue[object] = queue.Queue()

    def build() -> None:
        try:
            built = store.rebuild(name, output=lines.put)
            lines.put(f"OK {built.info.get('seconds', '')}")
        except (StackBuildError, OSError) as exc:
            lines.put(f"FAILED {exc}")
        finally:
            lines.put(_DONE)

    threading.Thread(target=build, name=f"stack-build-{name}", daemon=True).start()
    while (line := lines.get()) is not _DONE:
        yield f"{line}\n".encode()
