"""Request bodies have a size limit on every route but uploads (`POST /v3/bits`, which has its
own): a larger one is answered 413 before any handler reads it, by its Content-Length or, for a
chunked body, as soon as the bytes received pass the limit."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yun.api.errors import error_body

MAX_BODY = 16 << 20  # room for `resource_match` of an app with ~100,000 files
UPLOADS = frozenset({"/v3/bits"})
OWN_LIMITS = ("/git/", "/git-hook")  # git pushes, which may be large: their handlers limit them


class BodyLimit:
    def __init__(self, app: ASGIApp, *, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path in UPLOADS or path.startswith(OWN_LIMITS):
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(send)
            return
        held: list[Message] = []
        total, more = 0, scope.get("method") in ("POST", "PUT", "PATCH", "DELETE")
        while more:
            message = await receive()
            held.append(message)
            if message["type"] != "http.request":
                break
            total += len(message.get("body", b""))
            if total > self.limit:
                await self._refuse(send)
                return
            more = bool(message.get("more_body"))

        async def replay() -> Message:
            return held.pop(0) if held else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        message = f"request body is larger than {self.limit >> 20} MiB"
        body = json.dumps(error_body(413, message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
