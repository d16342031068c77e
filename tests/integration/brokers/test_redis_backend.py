"""The redis backend on real redis-servers, used through the credentials it hands out."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from tests.helpers import free_port

from yun.brokers.builtin.base import BackendError
from yun.brokers.builtin.ports import PortAllocator
from yun.brokers.builtin.redis import LARGE, MEDIUM, SMALL, RedisBackend
from yun.brokers.builtin.redis_servers import RedisServer, info

pytestmark = pytest.mark.integration

if shutil.which("redis-server") is None:
    pytest.skip("redis-server is not installed", allow_module_level=True)


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
def backend(service_root: Path, ports: PortAllocator) -> Iterator[RedisBackend]:
    backend = RedisBackend(root=service_root, ports=ports, listen=LISTEN)
    try:
        yield backend
    finally:
        final = RedisBackend(root=service_root, ports=ports, listen=LISTEN)
        try:
            final.stop()
        finally:
            state = service_root / "state.json"
            if state.exists():
                for instance_id in json.loads(state.read_text())["instances"]:
                    final.deprovision(instance_id)


@pytest.fixture(scope="module")
def instance(backend: RedisBackend) -> str:
    instance_id = new_id()
    backend.provision(instance_id, plan_id=SMALL.id, parameters={})
    return instance_id


def client(credentials: dict[str, Any], password: str | None = None) -> redis.Redis:
    """A connection made from the URI alone, as an app would (redis-py, as the services demo);
    connected at once, so that a refusal shows here."""
    conn = redis.Redis.from_url(credentials["uri"], socket_timeout=5)
    if password is not None:
        conn = redis.Redis(
            host="127.0.0.1",
            port=credentials["port"],
            username=credentials.get("username"),
            password=password,
            socket_timeout=5,
        )
    conn.ping()
    return conn


def admin(service_root: Path, instance_id: str) -> redis.Redis:
    """A connection as the platform's own ACL user, whose password only the state file holds."""
    record = json.loads((service_root / "state.json").read_text())["instances"][instance_id]
    return redis.Redis(
        host="127.0.0.1", port=record["port"], password=record["admin_password"], username="yun"
    )


def test_each_binding_has_a_user_of_its_own_and_unbinding_revokes_it(
    backend: RedisBackend, instance: str
) -> None:
    first_id, second_id = new_id(), new_id()
    first = backend.bind(instance, first_id, parameters={})
    assert first == backend.bind(instance, first_id, parameters={})  # a repeat: the same
    second = backend.bind(instance, second_id, parameters={})
    assert first["username"] == f"binding-{first_id}" != second["username"]
    assert first["password"] != second["password"]
    assert first["uri"] == (
        f"redis://binding-{first_id}:{first['password']}@127.0.0.1:{first['port']}"
    )
    with client(first) as conn:
        assert conn.set("greeting", "hello") is True
    with client(second) as conn:
        assert conn.get("greeting") == b"hello"  # one server, one keyspace
    with pytest.raises(redis.AuthenticationError, match="invalid username-password"):
        client(first, password="not-the-password")
    with pytest.raises(redis.AuthenticationError):  # and not as the default user either
        redis.Redis(host="127.0.0.1", port=first["port"], password=first["password"]).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=first["port"]).get("greeting")

    held = client(first)  # an app's open connection
    assert held.get("greeting") == b"hello"
    backend.unbind(instance, first_id)
    with pytest.raises(redis.ConnectionError):  # dropped at once
        held.get("greeting")
    with pytest.raises(redis.AuthenticationError):
        client(first)
    with client(second) as conn:
        assert conn.get("greeting") == b"hello"  # the other binding goes on
    backend.unbind(instance, first_id)  # already gone: nothing to do


def test_the_plan_sets_maxmemory_and_an_update_changes_it_live(
    backend: RedisBackend, instance: str, service_root: Path
) -> None:
    credentials = backend.bind(instance, new_id(), parameters={})

    def maxmemory() -> int:
        with client(credentials) as conn:
            return int(info(conn, "memory")["maxmemory"])

    assert maxmemory() == 64 * 1024 * 1024
    with client(credentials) as conn:
        assert info(conn, "memory")["maxmemory_policy"] == "noeviction"
        assert info(conn, "persistence")["aof_enabled"] == "1"
    backend.update(instance, plan_id=LARGE.id, parameters={})
    assert maxmemory() == 1024 * 1024 * 1024
    config = (service_root / "instances" / instance / "redis.conf").read_text()
    assert f"maxmemory {1024 * 1024 * 1024}\n" in config
    backend.update(instance, plan_id=SMALL.id, parameters={})
    assert maxmemory() == 64 * 1024 * 1024


def test_an_app_cannot_lift_its_limits_change_the_password_or_stop_its_server(
    backend: RedisBackend, instance: str
) -> None:
    credentials = backend.bind(instance, new_id(), parameters={})
    with client(credentials) as conn:
        for command in (
            ("CONFIG", "SET", "maxmemory", "0"),
            ("CONFIG", "GET", "requirepass"),
            ("ACL", "SETUSER", "default", "nopass"),
            ("SHUTDOWN", "NOSAVE"),
            ("REPLICAOF", "127.0.0.1", "1"),
            ("DEBUG", "SLEEP", "0"),
        ):
            with pytest.raises(redis.ResponseError, match=r"NOPERM|no permissions|not allowed"):
                conn.execute_command(*command)
        # What apps do is allowed: data commands, scans, their own database, INFO.
        assert conn.set("k", "v") is True
        assert b"k" in conn.keys("*")
        assert conn.execute_command("SELECT", "1")
        assert conn.flushdb() is True
        assert "redis_version" in info(conn, "server")
    with client(credentials) as conn:
        assert conn.ping() is True  # the server still runs


def test_backup_then_flushall_then_restore_brings_the_keys_back(
    backend: RedisBackend, instance: str, tmp_path: Path
) -> None:
    credentials = backend.bind(instance, new_id(), parameters={})
    with client(credentials) as conn:
        conn.set("kept", "before the backup")
    assert backend.backup(instance, tmp_path / "dump.rdb") == "redis-rdb"
    with client(credentials) as conn:
        conn.flushall()
        conn.set("later", "after the backup")
    backend.restore(instance, tmp_path / "dump.rdb")
    with client(credentials) as conn:
        assert conn.get("kept") == b"before the backup"
        assert conn.get("later") is None
        assert info(conn, "persistence")["aof_enabled"] == "1"


def test_restore_refuses_a_file_that_is_not_a_dump(
    backend: RedisBackend, instance: str, tmp_path: Path
) -> None:
    credentials = backend.bind(instance, new_id(), parameters={})
    with client(credentials) as conn:
        conn.set("precious", "1")
    (tmp_path / "junk").write_bytes(b"PGDMP not redis")
    with pytest.raises(BackendError, match="not a Redis RDB"):
        backend.restore(instance, tmp_path / "junk")
    with client(credentials) as conn:
        assert conn.get("precious") == b"1"


def test_servers_come_back_after_a_kill_and_after_a_platform_restart(
    backend: RedisBackend, instance: str, service_root: Path, ports: PortAllocator
) -> None:
    second = new_id()
    backend.provision(second, plan_id=MEDIUM.id, parameters={})
    backend.provision(second, plan_id=MEDIUM.id, parameters={})  # a repeat is harmless
    first_credentials = backend.bind(instance, new_id(), parameters={})
    second_credentials = backend.bind(second, new_id(), parameters={})
    assert first_credentials["port"] != second_credentials["port"]
    assert first_credentials["password"] != second_credentials["password"]
    for credentials in (first_credentials, second_credentials):
        with client(credentials) as conn:
            conn.set("survivor", credentials["port"])

    backend.stop()
    with pytest.raises(redis.ConnectionError):
        client(first_credentials)
    restarted = RedisBackend(root=service_root, ports=ports, listen=LISTEN)
    restarted.ensure_running()
    restarted.ensure_running()  # adopts what runs
    for credentials in (first_credentials, second_credentials):
        with client(credentials) as conn:
            assert conn.get("survivor") == str(credentials["port"]).encode()

    pid = int((service_root / "instances" / second / "redis.pid").read_text())
    with admin(service_root, second) as conn:
        conn.config_set("appendfsync", "always")  # the kill comes at once
    with client(second_credentials) as conn:
        conn.set("written", "before the kill")
        conn.set("synced", "yes")
    kill_and_wait(pid)
    restarted.ensure_running()
    with client(second_credentials) as conn:
        assert conn.get("synced") == b"yes"
    assert (service_root / "state.json").stat().st_mode & 0o777 == 0o600


def test_deprovision_stops_the_server_and_removes_its_directory(
    backend: RedisBackend, service_root: Path
) -> None:
    instance_id = new_id()
    backend.provision(instance_id, plan_id=SMALL.id, parameters={})
    credentials = backend.bind(instance_id, new_id(), parameters={})
    with client(credentials) as conn:
        conn.set("k", "v")
    backend.deprovision(instance_id)
    backend.deprovision(instance_id)  # already gone
    assert not (service_root / "instances" / instance_id).exists()
    with pytest.raises(redis.ConnectionError):
        client(credentials)
    with pytest.raises(BackendError):
        backend.bind(instance_id, new_id(), parameters={})


def test_a_server_an_older_platform_started_is_still_reached(tmp_path: Path) -> None:
    """Servers started before the platform had its own ACL user (one `requirepass` password)
    go on running after an upgrade; the platform reaches them with that password."""
    port = free_port()
    legacy = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--requirepass", "the-old-password", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        server = RedisServer(
            home=tmp_path,
            port=port,
            password="the-old-password",
            admin_password="not-known-to-that-server",
            maxmemory=64 * 1024 * 1024,
            listen=LISTEN,
            executable="redis-server",
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with server.client() as conn:
                    assert conn.ping() is True
                    assert conn.config_set("maxmemory", "1000000") is True
                break
            except redis.RedisError:
                assert time.monotonic() < deadline, "the legacy redis-server did not start"
                time.sleep(0.05)
    finally:
        legacy.terminate()
        legacy.wait(10)


def test_usage_tells_the_memory_used_and_the_clients_connected(
    backend: RedisBackend, instance: str
) -> None:
    credentials = backend.bind(instance, new_id(), parameters={})
    before = backend.usage(instance)
    with client(credentials) as conn:
        conn.set("big", "x" * 1_000_000)
        during = backend.usage(instance)
        conn.delete("big")

    assert before is not None and during is not None
    assert during["connections"] == before["connections"] + 1
    assert during["size_bytes"] > before["size_bytes"] + 900_000
    assert backend.usage(new_id()) is None
