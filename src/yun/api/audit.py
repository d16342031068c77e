"""Every API call gets a request id (the client's `X-Request-Id` when it is a sane one, else a
new one), answered in `X-Request-Id`; events recorded while serving it carry that id and the
client's address. Every write (`POST`, `PUT`, `PATCH`, `DELETE` under `/v3/`) is an event of
its own, `audit.request`, with the actor, method, path, status and outcome (success, denied
for 401/403/429, failure), also when it failed and its transaction left nothing else behind.
Logins record their own events (`audit.login.*`).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yun.store import events
from yun.store.session import Store

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
QUIET = ("/v3/auth/",)  # they record their own events


def outcome_of(status: int) -> str:
    if status in (401, 403, 429):
        return "denied"
    return "success" if status < 400 else "failure"


class AuditMiddleware:
    def __init__(self, app: ASGIApp, *, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        client = scope.get("client")
        address = str(client[0]) if client else ""
        status = 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with events.within_request(address, request_id):
            try:
                await self.app(scope, receive, answer)
            finally:
                if self._audited(scope):
                    actor = str((scope.get("state") or {}).get("user_name") or "")
                    await anyio.to_thread.run_sync(
                        self._record, scope["method"], scope["path"], status, actor
                    )

    @staticmethod
    def _audited(scope: Scope) -> bool:
        path = str(scope.get("path") or "")
        return (
            scope.get("method") in WRITES and path.startswith("/v3/") and not path.startswith(QUIET)
        )

    def _record(self, method: str, path: str, status: int, actor: str) -> None:
        data: dict[str, Any] = {"method": method, "path": path, "status": status}
        with self.store.session() as session:
            events.record(
                session,
                type="audit.request",
                app=None,
                actor=actor,
                data=data,
                outcome=outcome_of(status),
            )
