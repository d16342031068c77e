"""The SQL side of a PostgreSQL service instance: its database, owner role and binding roles.

An instance is a database owned by a NOLOGIN owner role. A binding is a login role that is a
member of the owner role and switches to it on connecting (`ALTER ROLE … IN DATABASE … SET
role`), so whatever any binding creates belongs to the owner and outlives the binding: unbinding
reassigns what the binding role still owns to the owner and drops the role. PUBLIC loses CONNECT
on every database, so on the shared server a binding reaches its own instance's database only.
Every function is idempotent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import psycopg
from psycopg import sql

from yun.brokers.builtin.base import BackendError
from yun.brokers.builtin.hosting import log_tail
from yun.brokers.builtin.pg_servers import PgServer

log = logging.getLogger(__name__)


def _role_exists(conn: psycopg.Connection[tuple[object, ...]], role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone() is not None


def _database_exists(conn: psycopg.Connection[tuple[object, ...]], database: str) -> bool:
    found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
    return found is not None


def create_database(server: PgServer, *, database: str, owner: str) -> None:
    try:
        with server.connect() as conn:
            for builtin in ("postgres", "template1"):
                conn.execute(
                    sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(
                        sql.Identifier(builtin)
                    )
                )
            if not _role_exists(conn, owner):
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(owner)))
            if not _database_exists(conn, database):
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(owner)
                    )
                )
            conn.execute(
                sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database))
            )
    except psycopg.Error as error:
        raise BackendError(f"creating database {database} failed: {error}") from error


def drop_database(server: PgServer, *, database: str, owner: str, logins: Iterable[str]) -> None:
    """Drop the database (ending its sessions) and its roles. A connection the server closes
    mid-way (a backend that crashed makes PostgreSQL end every session while it recovers) is
    tried once more, once the server accepts connections again."""
    for attempt in (1, 2):
        try:
            with server.connect() as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(database)
                    )
                )
                for role in [*logins, owner]:
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            return
        except psycopg.OperationalError as error:
            if attempt == 2 or not _accepts_connections(server):
                raise BackendError(
                    f"dropping database {database} failed: {error}\n{log_tail(server.log_file)}"
                ) from error
            log.warning("dropping %s: %s; trying again", database, str(error).strip())
        except psycopg.Error as error:
            raise BackendError(f"dropping database {database} failed: {error}") from error


def _accepts_connections(server: PgServer, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            server.connect().close()
            return True
        except BackendError:
            time.sleep(0.2)
    return False


def create_login(server: PgServer, *, database: str, owner: str, role: str, password: str) -> None:
    """A login role with `password` that acts as `owner` in `database`."""
    ident, owner_ident = sql.Identifier(role), sql.Identifier(owner)
    try:
        with server.connect() as conn:
            verb = "ALTER" if _role_exists(conn, role) else "CREATE"
            conn.execute(
                sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(ident, sql.Literal(password))
            )
            conn.execute(sql.SQL("GRANT {} TO {}").format(owner_ident, ident))
            conn.execute(
                sql.SQL("ALTER ROLE {} IN DATABASE {} SET role = {}").format(
                    ident, sql.Identifier(database), sql.Literal(owner)
                )
            )
    except psycopg.Error as error:
        raise BackendError(f"creating login {role} failed: {error}") from error


def drop_login(server: PgServer, *, database: str, owner: str, role: str) -> None:
    """End the role's sessions, hand what it owns to `owner`, drop it; the data stays."""
    ident = sql.Identifier(role)
    try:
        with server.connect() as conn:
            if not _role_exists(conn, role):
                return
            conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(ident))
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                [role],
            )
            if _database_exists(conn, database):
                with server.connect(database) as inside:
                    inside.execute(
                        sql.SQL("REASSIGN OWNED BY {} TO {}").format(ident, sql.Identifier(owner))
                    )
                    inside.execute(sql.SQL("DROP OWNED BY {}").format(ident))
            conn.execute(sql.SQL("DROP ROLE {}").format(ident))
    except psycopg.Error as error:
        raise BackendError(f"dropping login {role} failed: {error}") from error
