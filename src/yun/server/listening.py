"""The API's listener: HTTP, or HTTPS when YUN_TLS_CERT and YUN_TLS_KEY name a certificate
(chain) and its key, PEM.

With HTTPS, the platform's own controllers reach the built-in brokers' OSB API on a loopback
port of its own in plain HTTP (`BrokerListener`): the certificate is the users' (a public name,
or a private CA) and need not name 127.0.0.1, and the broker checks its own credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from types import FrameType

import uvicorn
from fastapi import APIRouter, FastAPI

from yun.settings import Settings


class TlsError(Exception):
    """The API's certificate or key cannot be used; the message names the variable."""


def check_tls(settings: Settings) -> None:
    """Refuse, before anything starts, a certificate or key that cannot serve HTTPS."""
    if settings.tls_cert is None or settings.tls_key is None:
        return
    for name, path in (("YUN_TLS_CERT", settings.tls_cert), ("YUN_TLS_KEY", settings.tls_key)):
        if not path.is_file():
            raise TlsError(f"{name}={path}: no such file")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            settings.tls_cert, settings.tls_key
        )
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise TlsError(
            f"YUN_TLS_CERT={settings.tls_cert} and YUN_TLS_KEY={settings.tls_key} cannot serve"
            f" HTTPS: {exc} (a PEM certificate chain and the PEM key that goes with it)"
        ) from exc


def api_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    tls = settings.tls_cert is not None
    return uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        timeout_graceful_shutdown=3,
        lifespan="off",
        ssl_certfile=str(settings.tls_cert) if tls else None,
        ssl_keyfile=str(settings.tls_key) if tls else None,
    )


class QuietServer(uvicorn.Server):
    """uvicorn's server, looking at its clock once a second instead of ten times (an idle
    `yun server` would otherwise wake ten times a second for nothing). The Date header still
    changes every second; a signal, or `stop_soon` from any thread, ends it at once."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._woken = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000  # uvicorn's ticks are tenths: every one a second
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), 1.0)
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._wake()

    def stop_soon(self) -> None:
        self.should_exit = True
        self._wake()

    def _wake(self) -> None:
        loop, woken = self._loop, self._woken
        if loop is not None and woken is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: it ended already
                loop.call_soon_threadsafe(woken.set)


class BrokerListener:
    """The built-in brokers' OSB API on 127.0.0.1, plain HTTP, for the platform's controllers."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._server: QuietServer | None = None

    def start(self, router: APIRouter) -> None:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        app.include_router(router)
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = QuietServer(config)
        threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="yun-broker-listener",
            daemon=True,
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop_soon()
        self._socket.close()
