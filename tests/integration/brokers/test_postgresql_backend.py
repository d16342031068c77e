"""The postgresql backend on real PostgreSQL clusters, used through the credentials it hands out.

One backend per module (initdb takes seconds): a shared and a dedicated instance are provisioned
once and the tests exercise them as apps would, with psycopg over TCP and the binding's password.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from yun.brokers.builtin.base import BackendError
from yun.brokers.builtin.pg_servers import PgBinaries
from yun.brokers.builtin.ports import PortAllocator
from yun.brokers.builtin.postgresql import (
    DEDICATED_PLAN_ID,
    SHARED_PLAN_ID,
    PostgresqlBackend,
)

pytestmark = pytest.mark.integration


def _have_postgresql() -> bool:
    try:
        PgBinaries.discover()
    except BackendError:
        return False
    return True


if not _have_postgresql():
    pytest.skip("PostgreSQL server programs are not installed", allow_module_level=True)


# the second address is never assigned (TEST-NET-1): optional listen addresses may be absent
LISTEN = ("127.0.0.1", "192.0.2.1")


def new_id() -> str:
    return str(uuid.uuid4())


def kill_and_wait(pid: int) -> None:
    """SIGKILL `pid` and wait until it is dead (gone, or a zombie nobody reaped yet)."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    stat = Path(f"/proc/{pid}/stat")
    while time.monotonic() < deadline:
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return
        except FileNotFoundError:
            return
        time.sleep(0.02)
    raise AssertionError(f"pid {pid} survived SIGKILL")


@pytest.fixture(scope="module")
def backend(service_root: Path, ports: PortAllocator) -> Iterator[PostgresqlBackend]:
    backend = PostgresqlBackend(root=service_root, ports=ports, listen=LISTEN)
    try:
        yield backend
    finally:
        state = service_root / "state.json"
        final = PostgresqlBackend(root=service_root, ports=ports, listen=LISTEN)
        try:
            final.stop()
        finally:
            if state.exists():
                for instance_id in json.loads(state.read_text())["instances"]:
                    final.deprovision(instance_id)
            final.stop()


@pytest.fixture(scope="module")
def shared(backend: PostgresqlBackend) -> str:
    instance_id = new_id()
    backend.provision(instance_id, plan_id=SHARED_PLAN_ID, parameters={})
    return instance_id


@pytest.fixture(scope="module")
def dedicated(backend: PostgresqlBackend) -> str:
    instance_id = new_id()
    backend.provision(instance_id, plan_id=DEDICATED_PLAN_ID, parameters={})
    return instance_id


def connect(credentials: dict[str, Any]) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(credentials["uri"], autocommit=True, connect_timeout=5)


def rows(credentials: dict[str, Any], query: str = "SELECT n FROM items ORDER BY n") -> list[Any]:
    with connect(credentials) as conn:
        return [row[0] for row in conn.execute(query).fetchall()]


def postmaster_pid(root: Path) -> int:
    return int((root / "data" / "postmaster.pid").read_text().split()[0])


@pytest.mark.parametrize("plan", ["shared", "dedicated"])
def test_bindings_share_the_data_and_backup_restores_it(
    backend: PostgresqlBackend, shared: str, dedicated: str, tmp_path: Path, plan: str
) -> None:
    instance_id = shared if plan == "shared" else dedicated
    first = backend.bind(instance_id, new_id(), parameters={})
    assert first["host"] == "127.0.0.1" and first["database"] == first["name"]
    assert first["jdbcUrl"].startswith(f"jdbc:postgresql://127.0.0.1:{first['port']}/")
    with connect(first) as conn:
        conn.execute("CREATE TABLE items (n integer PRIMARY KEY)")
        conn.execute("INSERT INTO items VALUES (1), (2), (3)")

    second = backend.bind(instance_id, new_id(), parameters={})
    assert second["username"] != first["username"] and second["password"] != first["password"]
    assert rows(second) == [1, 2, 3]
    with connect(second) as conn:
        conn.execute("INSERT INTO items VALUES (4)")
        conn.execute("CREATE TABLE more (t text)")  # a binding can create tables too

    assert backend.backup(instance_id, tmp_path / "dump") == "pg_dump-custom"
    with connect(first) as conn:
        conn.execute("DROP TABLE items")
    backend.restore(instance_id, tmp_path / "dump")
    assert rows(first) == [1, 2, 3, 4]
    backend.restore(instance_id, tmp_path / "dump")  # again, over the restored tables
    assert rows(second) == [1, 2, 3, 4]


def test_a_repeated_bind_returns_the_same_credentials(
    backend: PostgresqlBackend, shared: str
) -> None:
    binding_id = new_id()
    first = backend.bind(shared, binding_id, parameters={})
    assert backend.bind(shared, binding_id, parameters={}) == first
    backend.provision(shared, plan_id=SHARED_PLAN_ID, parameters={})  # a repeat is harmless
    assert rows(first, "SELECT 1") == [1]


def test_unbind_revokes_the_login_and_keeps_the_data(
    backend: PostgresqlBackend, dedicated: str
) -> None:
    leaving, staying = new_id(), new_id()
    gone = backend.bind(dedicated, leaving, parameters={})
    kept = backend.bind(dedicated, staying, parameters={})
    with connect(gone) as conn:
        conn.execute("RESET ROLE")  # owned by the binding itself, not the owner role
        conn.execute("CREATE TABLE notes (t text)")
        conn.execute("INSERT INTO notes VALUES ('kept')")
    open_session = connect(gone)
    try:
        backend.unbind(dedicated, leaving)
        backend.unbind(dedicated, leaving)  # nothing left to do
        with pytest.raises(psycopg.OperationalError):
            connect(gone)
        with pytest.raises(psycopg.OperationalError):
            open_session.execute("SELECT 1")  # its sessions are ended too
    finally:
        open_session.close()
    assert rows(kept, "SELECT t FROM notes") == ["kept"]


def test_a_shared_binding_cannot_reach_another_instances_database(
    backend: PostgresqlBackend, shared: str
) -> None:
    other = new_id()
    backend.provision(other, plan_id=SHARED_PLAN_ID, parameters={})
    mine = backend.bind(shared, new_id(), parameters={})
    theirs = backend.bind(other, new_id(), parameters={})
    assert mine["port"] == theirs["port"]
    intruder = dict(mine, uri=mine["uri"].rsplit("/", 1)[0] + "/" + theirs["database"])
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        connect(intruder)

    backend.deprovision(other)
    backend.deprovision(other)  # already gone
    with pytest.raises(psycopg.OperationalError):
        connect(theirs)
    databases = rows(mine, "SELECT datname FROM pg_database")
    assert theirs["database"] not in databases and mine["database"] in databases


def test_plans_cannot_be_swapped(backend: PostgresqlBackend, shared: str) -> None:
    with pytest.raises(BackendError, match="not supported"):
        backend.update(shared, plan_id=DEDICATED_PLAN_ID, parameters={})
    backend.update(shared, plan_id=SHARED_PLAN_ID, parameters={"ignored": True})


def test_servers_come_back_after_a_kill_and_after_a_platform_restart(
    backend: PostgresqlBackend,
    shared: str,
    dedicated: str,
    service_root: Path,
    ports: PortAllocator,
) -> None:
    on_shared = backend.bind(shared, new_id(), parameters={})
    on_dedicated = backend.bind(dedicated, new_id(), parameters={})
    for credentials in (on_shared, on_dedicated):
        with connect(credentials) as conn:
            conn.execute("CREATE TABLE survivors (n integer)")
            conn.execute("INSERT INTO survivors VALUES (7)")
    assert on_shared["port"] != on_dedicated["port"]

    kill_and_wait(postmaster_pid(service_root / "instances" / dedicated))
    backend.ensure_running()
    assert rows(on_dedicated, "SELECT n FROM survivors") == [7]

    backend.stop()
    with pytest.raises(psycopg.OperationalError):
        connect(on_shared)
    restarted = PostgresqlBackend(root=service_root, ports=ports, listen=LISTEN)
    restarted.ensure_running()
    restarted.ensure_running()  # adopts what runs
    for credentials in (on_shared, on_dedicated):
        assert rows(credentials, "SELECT n FROM survivors") == [7]
    assert (service_root / "state.json").stat().st_mode & 0o777 == 0o600


def test_deprovisioning_a_dedicated_instance_removes_its_server(
    backend: PostgresqlBackend, ports: PortAllocator, service_root: Path
) -> None:
    instance_id = new_id()
    backend.provision(instance_id, plan_id=DEDICATED_PLAN_ID, parameters={})
    credentials = backend.bind(instance_id, new_id(), parameters={})
    assert rows(credentials, "SELECT 1") == [1]
    backend.deprovision(instance_id)
    assert not (service_root / "instances" / instance_id).exists()
    with pytest.raises(psycopg.OperationalError):
        connect(credentials)
    with pytest.raises(BackendError):
        backend.bind(instance_id, new_id(), parameters={})


@pytest.mark.parametrize("plan", ["shared", "dedicated"])
def test_usage_tells_the_databases_size_and_its_connections(
    backend: PostgresqlBackend, shared: str, dedicated: str, plan: str
) -> None:
    instance_id = shared if plan == "shared" else dedicated
    credentials = backend.bind(instance_id, new_id(), parameters={})
    with connect(credentials) as first, connect(credentials):
        first.execute("CREATE TABLE IF NOT EXISTS filler (t text)")
        first.execute("INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, 2000)")
        busy = backend.usage(instance_id)
    deadline = time.monotonic() + 10  # a closed session's backend takes a moment to exit
    while (
        (idle := backend.usage(instance_id)) and idle["connections"] and time.monotonic() < deadline
    ):
        time.sleep(0.1)

    assert busy is not None and idle is not None
    assert busy["connections"] == 2 and idle["connections"] == 0  # the platform's own: not counted
    assert busy["size_bytes"] > 2_000_000  # the rows written
    assert backend.usage(new_id()) is None  # not one of this backend's
