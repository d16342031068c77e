"""The built-in brokers as part of `yun server`: their backends (PostgreSQL and Redis servers
under `$YUN_HOME/services`), their OSB endpoints on the API (`/brokers/builtin/v2/...`), and
their registration as the platform's own service broker `yun`.

The servers are data plane: like HAProxy and the instances they outlive `yun server` and are
adopted by the next one (`ensure_running`, at start and every `SUPERVISE_EVERY` seconds, also
restarts any that died). `yun server stop --all` stops them. An offering whose server binaries
are not installed is left out of the catalog, with a log line saying what to install.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from yun.brokers.builtin.base import BackendError, ServiceBackend
from yun.brokers.builtin.osb import BuiltinBroker, catalog
from yun.brokers.builtin.ports import PortAllocator
from yun.brokers.builtin.postgresql import PostgresqlBackend
from yun.brokers.builtin.redis import RedisBackend
from yun.settings import Settings
from yun.store.models import ServiceBroker
from yun.store.services import store_catalog
from yun.store.session import Store

log = logging.getLogger("yun.server.services")

PREFIX = "/brokers/builtin"
BROKER_NAME = "yun"
BROKER_USER = "yun-platform"
SUPERVISE_EVERY = 10.0


@dataclass(frozen=True)
class Reach:
    """Where the servers listen and which address apps are told (credentials' `host`)."""

    listen: tuple[str, ...] = ("127.0.0.1",)
    host: str = "127.0.0.1"


def _postgresql_installed() -> bool:
    return any(Path("/usr/lib/postgresql").glob("*/bin/postgres")) or bool(shutil.which("postgres"))


def _credentials(path: Path) -> str:
    """The broker's password, made once and kept (mode 600) so restarts agree with the store."""
    if path.exists():
        return str(json.loads(path.read_text())["password"])
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"username": BROKER_USER, "password": password}, out)
    return password


def offerings_here() -> set[str]:
    """The built-in offerings whose servers are installed on this machine."""
    here = {"postgresql"} if _postgresql_installed() else set()
    return here | ({"redis"} if shutil.which("redis-server") else set())


def make_backends(settings: Settings, reach: Reach) -> list[ServiceBackend]:
    root = settings.services_dir
    ports = PortAllocator(settings.service_ports)
    backends: list[ServiceBackend] = []
    here = offerings_here()
    if "postgresql" in here:
        backends.append(
            PostgresqlBackend(
                root=root / "postgresql", ports=ports, listen=reach.listen, host=reach.host
            )
        )
    else:
        log.warning("no postgresql offering: install it with `apt-get install postgresql`")
    if "redis" in here:
        backends.append(
            RedisBackend(root=root / "redis", ports=ports, listen=reach.listen, host=reach.host)
        )
    else:
        log.warning("no redis offering: install it with `apt-get install redis-server`")
    return backends


class PlatformServices:
    def __init__(self, settings: Settings, *, reach: Reach) -> None:
        self.settings = settings
        self.backends = make_backends(settings, reach)
        root = settings.services_dir
        self._password = _credentials(root / "broker-credentials.json")
        self.broker = BuiltinBroker(
            backends=self.backends,
            state_path=root / "osb",
            username=BROKER_USER,
            password=self._password,
            prefix=PREFIX,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, store: Store, base_url: str | None = None) -> None:
        """The platform's own broker, with the catalog of the backends this machine has; the
        controllers reach it at `base_url` (default: the API's URL)."""
        url = (base_url or self.settings.api_url) + PREFIX
        with store.session() as session:
            broker = session.scalar(select(ServiceBroker).where(ServiceBroker.name == BROKER_NAME))
            if broker is None:
                broker = ServiceBroker(name=BROKER_NAME, url=url, builtin=True)
                session.add(broker)
            broker.url, broker.builtin = url, True
            broker.username, broker.password = BROKER_USER, self._password
            session.flush()
            store_catalog(
                session, broker_guid=broker.guid, services=catalog(self.backends)["services"]
            )

    def usage(self, instance_id: str) -> Mapping[str, float] | None:
        """Size and connections of a built-in service instance (None for any other)."""
        for backend in self.backends:
            try:
                found = backend.usage(instance_id)
            except Exception as exc:  # a server restarting: no numbers this time
                log.debug("%s usage of %s: %s", backend.offering.name, instance_id, exc)
                continue
            if found is not None:
                return found
        return None

    def supervise_once(self) -> None:
        for backend in self.backends:
            try:
                backend.ensure_running()
            except BackendError as exc:
                log.warning("%s servers: %s", backend.offering.name, exc)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="yun-services", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.supervise_once()
            except Exception:  # one bad pass must not end supervision
                log.exception("supervising the built-in services")
            if self._stop.wait(SUPERVISE_EVERY):
                return

    def stop(self) -> None:
        """Stop supervising; the servers keep running for the next `yun server`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.broker.close()


def stop_servers(settings: Settings) -> dict[str, bool]:
    """`yun server stop --all`: stop every built-in service server of this home (their data
    stays). Returns each offering and whether all its servers stopped."""
    stopped = {}
    for backend in make_backends(settings, Reach()):
        try:
            backend.stop()
            stopped[backend.offering.name] = True
        except BackendError as exc:
            log.warning("stopping %s servers: %s", backend.offering.name, exc)
            stopped[backend.offering.name] = False
    return stopped
