"""One redis-server the platform runs: its config file, start, stop, adoption, RDB snapshots.

A server lives in its own directory (config, pidfile, log, dump.rdb, appendonlydir/). Its
passwords are in the config file (0600, owned by the server's user), never on a command line.
ACL users: one per binding and service key (`binding-<id>`, made live with ACL SETUSER and
written into the config for the next start; unbinding deletes it and drops its connections),
which may run every command but the administrative ones (CONFIG, SHUTDOWN, ACL SETUSER,
BGSAVE, REPLICAOF, DEBUG, MONITOR…), so an app cannot lift its plan's maxmemory, change a
password or stop its server; `default`, the same for bindings made before each had its own
user; `yun`, with a password of its own, is the platform's (maxmemory changes, snapshots,
users). The platform talks to it with redis-py. It daemonizes into a session of its own, so
it outlives the platform, which later recognises it by its pidfile.

Persistence is AOF. A server whose AOF is missing but that has a dump.rdb (just restored, or
interrupted while being restored) starts with AOF off, so that it loads the RDB, then turns AOF
on, which writes a fresh AOF from the loaded data (Redis 7 would otherwise start empty).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yun.brokers.builtin.base import BackendError
from yun.brokers.builtin.hosting import (
    as_user,
    log_tail,
    own,
    private_dir,
    server_pid,
    terminate,
    write_private,
)

if TYPE_CHECKING:
    import redis

SERVICE_USER = "redis"
COMMAND = "redis-server"
ADMIN_USER = "yun"
APP_COMMANDS = "+@all -@admin"  # what bindings' users (and `default`) may run
_RDB_MAGIC = b"REDIS"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _loopback(address: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(address, address)


def binding_user(binding_id: str) -> str:
    return f"binding-{binding_id}"


def info(client: redis.Redis, section: str) -> dict[str, str]:
    """`INFO section`, every value as the text the server sent."""
    fields: dict[str, Any] = client.info(section)
    return {key: str(value) for key, value in fields.items()}


def check_rdb(path: Path) -> None:
    """Refuse a file that is not an RDB snapshot before anything is replaced by it."""
    try:
        with path.open("rb") as file:
            magic = file.read(len(_RDB_MAGIC))
    except OSError as error:
        raise BackendError(f"cannot read the dump {path}: {error}") from error
    if magic != _RDB_MAGIC:
        raise BackendError(f"{path} is not a Redis RDB dump")


class RedisServer:
    """The redis-server in `home` on `port`, bound to `listen` (the first address required,
    the others optional, so a bridge address that is not up yet does not stop it)."""

    def __init__(
        self,
        *,
        home: Path,
        port: int,
        password: str,
        admin_password: str,
        maxmemory: int,
        listen: Sequence[str],
        executable: str,
        users: Mapping[str, str] | None = None,
    ) -> None:
        self.home, self.port, self.password = home, port, password
        self.users = dict(users or {})  # binding id -> its ACL user's password
        self.admin_password = admin_password
        self.maxmemory, self.listen, self.executable = maxmemory, tuple(listen), executable
        self.config_file = home / "redis.conf"
        self.pid_file = home / "redis.pid"
        self.log_file = home / "redis.log"
        self.rdb = home / "dump.rdb"
        self.aof_dir = home / "appendonlydir"

    def write_config(self, *, appendonly: bool = True) -> None:
        addresses = [self.listen[0], *(f"-{address}" for address in self.listen[1:])]
        settings = {
            "port": str(self.port),
            "bind": " ".join(addresses),
            "protected-mode": "no",  # a password is required from every client
            "maxmemory": str(self.maxmemory),
            "maxmemory-policy": "noeviction",
            "appendonly": "yes" if appendonly else "no",
            "appendfsync": "everysec",
            "dir": _quote(str(self.home)),
            "dbfilename": "dump.rdb",
            "daemonize": "yes",
            "pidfile": _quote(str(self.pid_file)),
            "logfile": _quote(str(self.log_file)),
        }
        text = "# written by yun; changes are overwritten\n"
        text += "".join(f"{key} {value}\n" for key, value in settings.items())
        text += f"user default reset on >{self.password} ~* &* {APP_COMMANDS}\n"
        text += f"user {ADMIN_USER} reset on >{self.admin_password} ~* &* +@all\n"
        for binding_id, password in sorted(self.users.items()):
            user = binding_user(binding_id)
            text += f"user {user} reset on >{password} ~* &* {APP_COMMANDS}\n"
        write_private(self.config_file, text, SERVICE_USER)

    def client(self, timeout: float = 5.0) -> redis.Redis:
        """A connection as the platform's ACL user. A server started by an older platform (one
        password, no ACL users) is reached with that password until its next restart."""
        import redis  # loaded with the first Redis service, not by every server

        host = _loopback(self.listen[0])
        common: dict[str, Any] = {
            "host": host,
            "port": self.port,
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
        }
        admin = redis.Redis(username=ADMIN_USER, password=self.admin_password, **common)
        try:
            admin.ping()
            return admin
        except redis.AuthenticationError:
            admin.close()
        return redis.Redis(password=self.password, **common)

    # -- users ----------------------------------------------------------------------------------

    def add_user(self, binding_id: str, password: str) -> None:
        """A binding's ACL user, live now and in the config for the next start."""
        self.users[binding_id] = password
        self.write_config(appendonly=True)
        with self.client() as client:
            client.execute_command(
                "ACL", "SETUSER", binding_user(binding_id), "reset", "on", f">{password}",
                "~*", "&*", *APP_COMMANDS.split(),
            )  # fmt: skip

    def remove_user(self, binding_id: str) -> None:
        """Delete a binding's ACL user and drop the connections it has open."""
        self.users.pop(binding_id, None)
        self.write_config(appendonly=True)
        if not self.running():
            return
        with self.client() as client:  # (the server closes the user's connections itself)
            client.execute_command("ACL", "DELUSER", binding_user(binding_id))

    # -- lifecycle ------------------------------------------------------------------------------

    def pid(self) -> int | None:
        return server_pid(self.pid_file, command=COMMAND, directory=self.home)

    def running(self) -> bool:
        return self.pid() is not None

    def start(self, timeout: float = 60.0) -> None:
        """Start the server unless it runs; wait until it has loaded its data."""
        if self.running():
            return
        private_dir(self.home, SERVICE_USER)
        load_rdb = not self.aof_dir.exists() and self.rdb.exists()
        self.write_config(appendonly=not load_rdb)
        executable = shutil.which(self.executable)
        if executable is None:
            raise BackendError(f"{self.executable} is not installed (apt install redis-server)")
        result = subprocess.run(
            as_user(SERVICE_USER, [executable, str(self.config_file)]),
            cwd=self.home,
            capture_output=True,
            text=True,
            start_new_session=True,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stderr or result.stdout).strip()
            raise BackendError(f"redis-server did not start: {output}\n{log_tail(self.log_file)}")
        self._wait_ready(timeout)
        if load_rdb:
            self._turn_aof_on(timeout)
        self.write_config(appendonly=True)

    def _wait_ready(self, timeout: float) -> None:
        import redis

        deadline = time.monotonic() + timeout
        started = time.monotonic()
        problem = "no answer"
        while time.monotonic() < deadline:
            if time.monotonic() - started > 2 and not self.running():
                break
            try:
                with self.client() as client:
                    if client.ping():
                        return
            except (OSError, redis.RedisError) as error:  # refused, or still LOADING
                problem = str(error)
            time.sleep(0.05)
        raise BackendError(
            f"redis-server on port {self.port} is not ready ({problem})\n{log_tail(self.log_file)}"
        )

    def _turn_aof_on(self, timeout: float) -> None:
        with self.client(timeout) as client:
            client.config_set("appendonly", "yes")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                fields = info(client, "persistence")
                rewriting = fields.get("aof_rewrite_in_progress") != "0"
                scheduled = fields.get("aof_rewrite_scheduled") != "0"
                if not rewriting and not scheduled and self._has_aof():
                    if fields.get("aof_last_bgrewrite_status") != "ok":
                        raise BackendError(f"redis could not write its AOF: {fields}")
                    return
                time.sleep(0.05)
        raise BackendError(f"redis-server on port {self.port} did not write its AOF in time")

    def _has_aof(self) -> bool:
        return any(self.aof_dir.glob("*.manifest"))

    def stop(self) -> None:
        """A graceful shutdown (SIGTERM: the AOF is flushed); nothing to do if stopped."""
        pid = self.pid()
        if pid is not None:
            terminate(pid, command=COMMAND, directory=self.home)

    # -- data -----------------------------------------------------------------------------------

    def set_maxmemory(self, maxmemory: int) -> None:
        self.maxmemory = maxmemory
        if self.running():
            with self.client() as client:
                client.config_set("maxmemory", str(maxmemory))
        self.write_config(appendonly=True)

    def snapshot(self, target: Path, timeout: float = 600.0) -> None:
        """A fresh RDB snapshot (BGSAVE, so clients are not blocked), copied to `target`."""
        import redis

        deadline = time.monotonic() + timeout
        with self.client(timeout) as client:
            saves = int(info(client, "persistence").get("rdb_saves", "0"))
            while True:
                try:
                    client.execute_command("BGSAVE", "SCHEDULE")
                    break
                except redis.ResponseError as error:
                    if "in progress" not in str(error) or time.monotonic() > deadline:
                        raise BackendError(f"redis BGSAVE failed: {error}") from error
                    time.sleep(0.05)  # an older save runs; ours must start after it
            while time.monotonic() < deadline:
                fields = info(client, "persistence")
                done = int(fields.get("rdb_saves", "0")) > saves
                if done and fields.get("rdb_bgsave_in_progress") == "0":
                    if fields.get("rdb_last_bgsave_status") != "ok":
                        raise BackendError(f"redis BGSAVE failed: {log_tail(self.log_file)}")
                    shutil.copyfile(self.rdb, target)
                    return
                time.sleep(0.05)
        raise BackendError(f"redis BGSAVE did not finish within {timeout:.0f}s")

    def replace_data(self, source: Path) -> None:
        """Stop, put the RDB `source` in place of the data (AOF included), start on it."""
        check_rdb(source)
        self.stop()
        temporary = self.home / "dump.rdb.restoring"
        shutil.copyfile(source, temporary)
        own(temporary, SERVICE_USER)
        temporary.chmod(0o600)
        shutil.rmtree(self.aof_dir, ignore_errors=True)
        os.replace(temporary, self.rdb)
        self.start()
        if not self._has_aof():
            raise BackendError("redis restarted on the restored data but wrote no AOF")
