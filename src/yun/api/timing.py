"""How long API calls take, by route template and method, for `/metrics`."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

from yun.metrics.exposition import PlatformInstruments


class CallTiming:
    """ASGI middleware: observes each HTTP call's duration, to the end of its response (a
    streamed log tail counts as long as it lasts)."""

    def __init__(self, app: ASGIApp, instruments: PlatformInstruments) -> None:
        self.app = app
        self.instruments = instruments

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.instruments.api_seconds.labels(scope["method"], route).observe(
                time.perf_counter() - started
            )
