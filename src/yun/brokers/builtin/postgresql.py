"""The `postgresql` offering: a database on a shared server, or a server of its own.

`shared` instances are databases on one platform-managed cluster (root/shared, created on first
use); `dedicated` instances get a cluster each (root/instances/<id>). Both look the same to an
app: a database owned by the instance's owner role, one login role per binding
(`pg_databases`). The backend remembers its instances in root/state.json; every operation
records what it is about to do before doing it, so a repeat after a crash finishes the job.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from yun.brokers.builtin.base import BackendError, OfferingSpec, PlanSpec
from yun.brokers.builtin.hosting import StateFile, grant_passage, new_password
from yun.brokers.builtin.pg_servers import SERVICE_USER, PgBinaries, PgServer
from yun.brokers.builtin.ports import PortAllocator

SHARED_PLAN_ID = "3f0b7a52-5a44-4c1e-9a0e-6c1b7f3d2a01"
DEDICATED_PLAN_ID = "3f0b7a52-5a44-4c1e-9a0e-6c1b7f3d2a02"

OFFERING = OfferingSpec(
    id="3f0b7a52-5a44-4c1e-9a0e-6c1b7f3d2a00",
    name="postgresql",
    description="PostgreSQL databases, on a shared server or a server of their own",
    tags=("postgresql", "relational"),
    plan_updateable=False,
    metadata={"displayName": "PostgreSQL", "providerDisplayName": "Yun"},
    plans=(
        PlanSpec(
            id=SHARED_PLAN_ID,
            name="shared",
            description="A database and its roles on a server shared with other instances",
            metadata={"bullets": ["database on a shared server"], "dedicated": False},
        ),
        PlanSpec(
            id=DEDICATED_PLAN_ID,
            name="dedicated",
            description="A PostgreSQL server of its own, with one database",
            metadata={"bullets": ["own PostgreSQL server and port"], "dedicated": True},
        ),
    ),
)


@dataclass
class _Instance:
    plan_id: str
    port: int  # its server's port (the shared server's, for a shared instance)
    ready: bool = False  # provisioned; ensure_running only looks after ready instances
    bindings: dict[str, str] = field(default_factory=dict)  # binding id -> password

    @property
    def dedicated(self) -> bool:
        return self.plan_id == DEDICATED_PLAN_ID


def _hex(guid: str) -> str:
    try:
        return uuid.UUID(guid).hex
    except ValueError as error:
        raise BackendError(f"not a UUID: {guid!r}") from error


def _database(instance_id: str) -> str:
    return f"d_{_hex(instance_id)}"


def _owner(instance_id: str) -> str:
    return f"o_{_hex(instance_id)}"


def _login(binding_id: str) -> str:
    return f"b_{_hex(binding_id)}"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class PostgresqlBackend:
    """Runs the `postgresql` offering's servers under `root` (see the module docstring)."""

    offering = OFFERING

    def __init__(
        self,
        *,
        root: Path,
        ports: PortAllocator,
        listen: Sequence[str] = ("127.0.0.1",),
        host: str = "127.0.0.1",
        binaries: PgBinaries | None = None,
    ) -> None:
        self.root, self.listen, self.host = root, tuple(listen), host
        self._ports = ports
        self._binaries = binaries
        self._state = StateFile(root / "state.json")
        self._lock = threading.RLock()
        ports.track(self._recorded_ports)

    # -- state ----------------------------------------------------------------------------------

    def _load(self) -> tuple[int | None, dict[str, _Instance]]:
        data = self._state.load()
        instances = {key: _Instance(**value) for key, value in data.get("instances", {}).items()}
        return data.get("shared_port"), instances

    def _save(self, shared_port: int | None, instances: Mapping[str, _Instance]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o711)
        records = {key: asdict(value) for key, value in instances.items()}
        self._state.save({"shared_port": shared_port, "instances": records})

    def _recorded_ports(self) -> Iterator[int]:
        shared_port, instances = self._load()
        if shared_port is not None:
            yield shared_port
        yield from (instance.port for instance in instances.values())

    def _instance(self, instance_id: str) -> _Instance:
        instance = self._load()[1].get(instance_id)
        if instance is None:
            raise BackendError(f"no postgresql instance {instance_id}")
        return instance

    # -- servers --------------------------------------------------------------------------------

    def _bin(self) -> PgBinaries:
        if self._binaries is None:
            self._binaries = PgBinaries.discover()
        return self._binaries

    def _server(self, instance_id: str, instance: _Instance) -> PgServer:
        home = self.root / "instances" / instance_id if instance.dedicated else self.root / "shared"
        return PgServer(home=home, port=instance.port, listen=self.listen, binaries=self._bin())

    def _servers(self) -> Iterator[tuple[str, PgServer]]:
        shared_port, instances = self._load()
        if shared_port is not None:
            home = self.root / "shared"
            yield (
                "shared",
                PgServer(home=home, port=shared_port, listen=self.listen, binaries=self._bin()),
            )
        for instance_id, instance in instances.items():
            if instance.dedicated and (instance.ready or self._server_home(instance_id).exists()):
                yield instance_id, self._server(instance_id, instance)

    def _server_home(self, instance_id: str) -> Path:
        return self.root / "instances" / instance_id

    def _start(self, server: PgServer) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        grant_passage(self.root, SERVICE_USER)
        (self.root / "instances").mkdir(exist_ok=True)
        for directory in (self.root, self.root / "instances"):
            directory.chmod(0o711)
        server.create()
        server.start()

    # -- ServiceBackend -------------------------------------------------------------------------

    def provision(self, instance_id: str, *, plan_id: str, parameters: Mapping[str, Any]) -> None:
        if OFFERING.plan(plan_id) is None:
            raise BackendError(f"postgresql has no plan {plan_id}")
        _hex(instance_id)
        with self._lock:
            shared_port, instances = self._load()
            instance = instances.get(instance_id)
            if instance is not None and instance.plan_id != plan_id:
                raise BackendError(f"postgresql instance {instance_id} exists with another plan")
            if instance is None:
                if plan_id == DEDICATED_PLAN_ID:
                    port = self._ports.allocate()
                else:
                    shared_port = shared_port or self._ports.allocate()
                    port = shared_port
                instance = instances[instance_id] = _Instance(plan_id=plan_id, port=port)
                self._save(shared_port, instances)
            server = self._server(instance_id, instance)
            self._start(server)
            from yun.brokers.builtin import pg_databases  # psycopg: loaded when used

            pg_databases.create_database(
                server, database=_database(instance_id), owner=_owner(instance_id)
            )
            instance.ready = True
            self._save(shared_port, instances)

    def update(self, instance_id: str, *, plan_id: str, parameters: Mapping[str, Any]) -> None:
        instance = self._instance(instance_id)
        if plan_id != instance.plan_id:
            raise BackendError(
                "moving a postgresql instance between the shared and dedicated plans is not "
                "supported; create a new instance and restore a backup into it"
            )

    def deprovision(self, instance_id: str) -> None:
        with self._lock:
            shared_port, instances = self._load()
            instance = instances.get(instance_id)
            if instance is None:
                return
            server = self._server(instance_id, instance)
            if instance.dedicated:
                server.stop()
                shutil.rmtree(server.home, ignore_errors=True)
                if server.socket_dir != server.home:
                    shutil.rmtree(server.socket_dir, ignore_errors=True)
                self._ports.release(instance.port)
            elif server.data.exists():
                server.start()
                from yun.brokers.builtin import pg_databases  # psycopg: loaded when used

                pg_databases.drop_database(
                    server,
                    database=_database(instance_id),
                    owner=_owner(instance_id),
                    logins=[_login(binding) for binding in instance.bindings],
                )
            del instances[instance_id]
            self._save(shared_port, instances)

    def bind(
        self, instance_id: str, binding_id: str, *, parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        role = _login(binding_id)
        with self._lock:
            shared_port, instances = self._load()
            instance = instances.get(instance_id)
            if instance is None or not instance.ready:
                raise BackendError(f"no postgresql instance {instance_id}")
            password = instance.bindings.get(binding_id)
            if password is None:
                password = instance.bindings[binding_id] = new_password()
                self._save(shared_port, instances)
            server = self._server(instance_id, instance)
            server.start()
            database, owner = _database(instance_id), _owner(instance_id)
            from yun.brokers.builtin import pg_databases  # psycopg: loaded when used

            pg_databases.create_login(
                server, database=database, owner=owner, role=role, password=password
            )
        port = instance.port
        return self._credentials(port=port, database=database, user=role, password=password)

    def _credentials(self, *, port: int, database: str, user: str, password: str) -> dict[str, Any]:
        host = _url_host(self.host)
        return {
            "uri": f"postgresql://{user}:{password}@{host}:{port}/{database}",
            "host": self.host,
            "port": port,
            "username": user,
            "password": password,
            "name": database,
            "database": database,
            "jdbcUrl": f"jdbc:postgresql://{host}:{port}/{database}?user={user}&password={password}",
        }

    def unbind(self, instance_id: str, binding_id: str) -> None:
        with self._lock:
            shared_port, instances = self._load()
            instance = instances.get(instance_id)
            if instance is None or binding_id not in instance.bindings:
                return
            server = self._server(instance_id, instance)
            server.start()
            from yun.brokers.builtin import pg_databases  # psycopg: loaded when used

            pg_databases.drop_login(
                server,
                database=_database(instance_id),
                owner=_owner(instance_id),
                role=_login(binding_id),
            )
            del instance.bindings[binding_id]
            self._save(shared_port, instances)

    def backup(self, instance_id: str, target: Path) -> str:
        with self._lock:
            server = self._server(instance_id, self._instance(instance_id))
            server.start()
        server.dump(dbname=_database(instance_id), target=target)
        return "pg_dump-custom"

    def restore(self, instance_id: str, source: Path) -> None:
        with self._lock:
            server = self._server(instance_id, self._instance(instance_id))
            server.start()
        server.restore(dbname=_database(instance_id), role=_owner(instance_id), source=source)

    def usage(self, instance_id: str) -> Mapping[str, float] | None:
        instance = self._load()[1].get(instance_id)
        if instance is None or not instance.ready:
            return None
        server = self._server(instance_id, instance)
        if not server.running():
            return None
        database = _database(instance_id)
        with server.connect() as conn:
            row = conn.execute(
                "SELECT pg_database_size(%s),"
                " (SELECT count(*) FROM pg_stat_activity WHERE datname = %s)",
                (database, database),
            ).fetchone()
        if row is None:
            return None
        return {"size_bytes": float(row[0]), "connections": float(row[1])}  # type: ignore[arg-type]

    def ensure_running(self) -> None:
        problems: list[str] = []
        with self._lock:
            for name, server in self._servers():
                try:
                    if not server.running():
                        self._start(server)
                except BackendError as error:
                    problems.append(f"{name}: {error}")
        if problems:
            raise BackendError("some PostgreSQL servers do not run:\n" + "\n".join(problems))

    def stop(self) -> None:
        problems: list[str] = []
        with self._lock:
            for name, server in self._servers():
                try:
                    server.stop()
                except BackendError as error:
                    problems.append(f"{name}: {error}")
        if problems:
            raise BackendError("some PostgreSQL servers did not stop:\n" + "\n".join(problems))
