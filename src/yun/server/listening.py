"""The API's listener: HTTP, or HTTPS when YUN_TLS_CERT and YUN_TLS_KEY name a certificate
(chain) and its key, PEM.

With HTTPS, the platform's own controllers reach the built-in brokers' OSB API on a loopback
port of its own in plain HTTP (`BrokerListener`): the certificate is the users' (a public name,
or a private CA) and need not name 127.0.0.1, and the broker checks its own credentials.
"""

from __future__ import annotations

import socket
import ssl
import threading

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


class BrokerListener:
    """The built-in brokers' OSB API on 127.0.0.1, plain HTTP, for the platform's controllers."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._server: uvicorn.Server | None = None

    def start(self, router: APIRouter) -> None:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        app.include_router(router)
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="yun-broker-listener",
            daemon=True,
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._socket.close()
