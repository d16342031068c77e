"""One PostgreSQL cluster the platform runs: initdb, configuration, start, stop, adoption.

A cluster lives in a directory of its own (`data/`, its log, and its unix socket, so it never
touches /var/run/postgresql). Apps reach it over TCP with passwords (scram-sha-256); the
platform's admin connection is the cluster's superuser over the private unix socket, the only
place `trust` applies. `pg_ctl` starts it in a session of its own, so it outlives the platform;
a later platform recognises it through postmaster.pid.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from yun.brokers.builtin.base import BackendError
from yun.brokers.builtin.hosting import (
    as_user,
    log_tail,
    own,
    private_dir,
    processes_in,
    server_pid,
    write_private,
)

if TYPE_CHECKING:
    import psycopg

SUPERUSER = "yun"
SERVICE_USER = "postgres"
_SOCKET_PATH_MAX = 107  # sun_path, less its terminating NUL
_TOOLS = ("initdb", "pg_ctl", "pg_dump", "pg_restore")


@dataclass(frozen=True)
class PgBinaries:
    """Where the PostgreSQL server and client programs are (one version's bin directory)."""

    bindir: Path

    @classmethod
    def discover(cls) -> PgBinaries:
        """The newest /usr/lib/postgresql/*/bin (Debian's layout), else the PATH."""
        candidates = sorted(
            glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
        )
        for bindir in reversed(candidates):
            if all((Path(bindir) / tool).exists() for tool in _TOOLS):
                return cls(Path(bindir))
        found = shutil.which("pg_ctl")
        if found and all(shutil.which(tool) for tool in _TOOLS):
            return cls(Path(found).parent)
        raise BackendError("PostgreSQL server programs are not installed (apt install postgresql)")

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _client_env() -> dict[str, str]:
    """Our environment without PG* variables, so nothing outside points tools elsewhere."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


class PgServer:
    """The cluster in `home` (data in home/data) on `port`, listening on `listen`."""

    def __init__(
        self, *, home: Path, port: int, listen: Sequence[str], binaries: PgBinaries
    ) -> None:
        self.home, self.port, self.listen, self.binaries = home, port, tuple(listen), binaries
        self.data = home / "data"
        self.log_file = home / "postgresql.log"

    @property
    def socket_dir(self) -> Path:
        """The home itself, unless the socket's path would be too long for a unix socket."""
        if len(str(self.home / f".s.PGSQL.{self.port}")) <= _SOCKET_PATH_MAX:
            return self.home
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"yun-pg-{digest}"

    # -- lifecycle ------------------------------------------------------------------------------

    def create(self) -> None:
        """initdb (once) and write the configuration; safe to repeat."""
        private_dir(self.home, SERVICE_USER)
        if not (self.data / "PG_VERSION").exists():
            if self.data.exists():
                shutil.rmtree(self.data)  # a half-made cluster from an interrupted initdb
            self._run(
                [
                    self.binaries.tool("initdb"),
                    "--pgdata",
                    str(self.data),
                    "--username",
                    SUPERUSER,
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                what="initdb",
            )
            with (self.data / "postgresql.conf").open("a") as conf:
                conf.write("\ninclude 'yun.conf'\n")
        self.configure()

    def configure(self) -> None:
        socket_dir = private_dir(self.socket_dir, SERVICE_USER)
        settings = {
            "listen_addresses": _quote(",".join(self.listen)),
            "port": str(self.port),
            "unix_socket_directories": _quote(str(socket_dir)),
            "unix_socket_permissions": "0700",
            "password_encryption": "scram-sha-256",
        }
        text = "# written by yun; changes are overwritten\n"
        text += "".join(f"{key} = {value}\n" for key, value in settings.items())
        write_private(self.data / "yun.conf", text, SERVICE_USER)
        hba = (
            "# written by yun: the platform's superuser over the private socket, apps by password\n"
            f"local all {SUPERUSER} trust\n"
            "host all all 0.0.0.0/0 scram-sha-256\n"
            "host all all ::/0 scram-sha-256\n"
        )
        write_private(self.data / "pg_hba.conf", hba, SERVICE_USER)

    def pid(self) -> int | None:
        return server_pid(self.data / "postmaster.pid", command="postgres", directory=self.data)

    def running(self) -> bool:
        return self.pid() is not None

    def start(self) -> None:
        """Start the cluster unless it runs; wait until it accepts connections."""
        if self.running():
            return
        self.configure()
        self._wait_for_leftovers()
        if not self.log_file.exists():
            self.log_file.touch(mode=0o600)
            own(self.log_file, SERVICE_USER)
        self._run(
            [
                self.binaries.tool("pg_ctl"),
                "--pgdata",
                str(self.data),
                "--log",
                str(self.log_file),
                "--wait",
                "--timeout=60",
                "start",
            ],
            what="starting PostgreSQL",
        )

    def stop(self) -> None:
        """A fast shutdown (sessions are ended, data is kept); nothing to do if stopped."""
        if not self.running():
            return
        self._run(
            [
                self.binaries.tool("pg_ctl"),
                "--pgdata",
                str(self.data),
                "--mode=fast",
                "--wait",
                "--timeout=60",
                "stop",
            ],
            what="stopping PostgreSQL",
        )

    def _wait_for_leftovers(self, timeout: float = 10.0) -> None:
        """A killed postmaster's pid and its backends linger for a moment; a new postmaster
        refuses to start while the pid in postmaster.pid exists or they hold shared memory."""
        deadline = time.monotonic() + timeout
        try:
            locked = Path("/proc") / (self.data / "postmaster.pid").read_text().split()[0]
        except (OSError, IndexError):
            locked = None
        while time.monotonic() < deadline and (
            (locked is not None and locked.exists())  # dying, or a zombie not yet reaped
            or processes_in(self.data, command="postgres")
        ):
            time.sleep(0.05)

    def _run(self, args: list[str], *, what: str) -> None:
        result = subprocess.run(
            as_user(SERVICE_USER, args),
            cwd=self.home,
            env=_client_env(),
            capture_output=True,
            text=True,
            start_new_session=True,  # the server pg_ctl leaves behind is not in our session
            check=False,
        )
        if result.returncode != 0:
            output = (result.stderr or result.stdout).strip()
            raise BackendError(f"{what} failed: {output}\n{log_tail(self.log_file)}".strip())

    # -- clients --------------------------------------------------------------------------------

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        """The superuser's connection over the private socket, in autocommit mode."""
        import psycopg  # loaded with the first PostgreSQL service, not by every server

        try:
            return psycopg.connect(
                host=str(self.socket_dir),
                port=self.port,
                user=SUPERUSER,
                dbname=dbname,
                autocommit=True,
                connect_timeout=10,
            )
        except psycopg.Error as error:
            message = f"cannot connect to PostgreSQL on port {self.port}: {error}"
            raise BackendError(message) from error

    def _client_args(self, dbname: str) -> list[str]:
        return ["--host", str(self.socket_dir), "--port", str(self.port), "--username", SUPERUSER,
                "--dbname", dbname]  # fmt: skip

    def dump(self, *, dbname: str, target: Path) -> None:
        args = [self.binaries.tool("pg_dump"), "--format=custom", "--file", str(target)]
        self._client([*args, *self._client_args(dbname)], what="pg_dump")

    def restore(self, *, dbname: str, role: str, source: Path) -> None:
        """Replace the objects in the dump, owned by `role`, in one transaction."""
        args = [
            self.binaries.tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            "--role",
            role,
        ]
        self._client([*args, *self._client_args(dbname), str(source)], what="pg_restore")

    def _client(self, args: list[str], *, what: str) -> None:
        env = _client_env()
        result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BackendError(f"{what} failed: {result.stderr.strip()}")
