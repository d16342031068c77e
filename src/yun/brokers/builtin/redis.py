"""The `redis` offering: a redis-server of its own per instance, sized by the plan's maxmemory.

Instances live in root/instances/<id> (`redis_servers`); the backend remembers them (plan,
port, passwords, bindings) in root/state.json, recording an instance before starting its
server so that a repeated provision after a crash finishes the job. Each binding and service
key gets an ACL user of its own (`binding-<id>`, a password of its own; its credentials' uri
names both), so unbinding revokes it: the user is deleted and its connections dropped. A
repeated bind of the same binding answers the same credentials.
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
from yun.brokers.builtin.ports import PortAllocator
from yun.brokers.builtin.redis_servers import SERVICE_USER, RedisServer, binding_user, info

_MB = 1024 * 1024


def _plan(suffix: str, name: str, megabytes: int) -> PlanSpec:
    size = f"{megabytes} MB" if megabytes < 1024 else f"{megabytes // 1024} GB"
    return PlanSpec(
        id=f"9c2d41e6-7b1f-4a8e-b3d5-2e6f8a0c1d{suffix}",
        name=name,
        description=f"A Redis server of its own with {size} of memory",
        metadata={"maxmemory": megabytes * _MB, "memory": size, "bullets": [f"{size} maxmemory"]},
    )


SMALL = _plan("01", "small", 64)
MEDIUM = _plan("02", "medium", 256)
LARGE = _plan("03", "large", 1024)

OFFERING = OfferingSpec(
    id="9c2d41e6-7b1f-4a8e-b3d5-2e6f8a0c1d00",
    name="redis",
    description="Redis key-value stores, a server of their own each",
    tags=("redis", "key-value"),
    plan_updateable=True,
    metadata={"displayName": "Redis", "providerDisplayName": "Yun"},
    plans=(SMALL, MEDIUM, LARGE),
)


@dataclass
class _Instance:
    plan_id: str
    port: int
    password: str
    ready: bool = False  # provisioned; ensure_running only looks after ready instances
    admin_password: str = ""  # the platform's own ACL user; given on load to older records
    bindings: dict[str, str] = field(default_factory=dict)  # binding id -> its user's password


def _maxmemory(plan_id: str) -> int:
    plan = OFFERING.plan(plan_id)
    if plan is None:
        raise BackendError(f"redis has no plan {plan_id}")
    return int(plan.metadata["maxmemory"])


class RedisBackend:
    """Runs the `redis` offering's servers under `root` (see the module docstring)."""

    offering = OFFERING

    def __init__(
        self,
        *,
        root: Path,
        ports: PortAllocator,
        listen: Sequence[str] = ("127.0.0.1",),
        host: str = "127.0.0.1",
        executable: str = "redis-server",
    ) -> None:
        if not listen:
            raise ValueError("redis needs at least one listen address")
        self.root, self.listen, self.host, self.executable = root, tuple(listen), host, executable
        self._ports = ports
        self._state = StateFile(root / "state.json")
        self._lock = threading.RLock()
        ports.track(self._recorded_ports)

    # -- state ----------------------------------------------------------------------------------

    def _load(self) -> dict[str, _Instance]:
        with self._lock:
            data = self._state.load()
            instances = {k: _Instance(**v) for k, v in data.get("instances", {}).items()}
            older = [instance for instance in instances.values() if not instance.admin_password]
            for instance in older:
                instance.admin_password = new_password()
            if older:
                self._save(instances)
            return instances

    def _save(self, instances: Mapping[str, _Instance]) -> None:
        self._prepare_root()
        self._state.save({"instances": {key: asdict(value) for key, value in instances.items()}})

    def _peek(self) -> dict[str, _Instance]:
        """The instances as the state file has them, read without the backend's lock (the
        file is replaced whole, so a read sees one state or the next)."""
        return {k: _Instance(**v) for k, v in self._state.load().get("instances", {}).items()}

    def _recorded_ports(self) -> Iterator[int]:
        # Without the backend's lock: the port allocator calls this while it holds its own,
        # and a provision holds the backend's lock while it asks the allocator for a port.
        return (instance.port for instance in self._peek().values())

    def _instance(self, instance_id: str) -> _Instance:
        instance = self._load().get(instance_id)
        if instance is None or not instance.ready:
            raise BackendError(f"no redis instance {instance_id}")
        return instance

    def _prepare_root(self) -> None:
        (self.root / "instances").mkdir(parents=True, exist_ok=True)
        for directory in (self.root, self.root / "instances"):
            directory.chmod(0o711)

    def _server(self, instance_id: str, instance: _Instance) -> RedisServer:
        return RedisServer(
            home=self.root / "instances" / str(uuid.UUID(instance_id)),
            port=instance.port,
            password=instance.password,
            admin_password=instance.admin_password,
            maxmemory=_maxmemory(instance.plan_id),
            listen=self.listen,
            executable=self.executable,
            users=instance.bindings,
        )

    def _start(self, server: RedisServer) -> None:
        self._prepare_root()
        grant_passage(self.root, SERVICE_USER)
        server.start()

    # -- ServiceBackend -------------------------------------------------------------------------

    def provision(self, instance_id: str, *, plan_id: str, parameters: Mapping[str, Any]) -> None:
        _maxmemory(plan_id)
        try:
            uuid.UUID(instance_id)
        except ValueError as error:
            raise BackendError(f"not a UUID: {instance_id!r}") from error
        with self._lock:
            instances = self._load()
            instance = instances.get(instance_id)
            if instance is not None and instance.plan_id != plan_id:
                raise BackendError(f"redis instance {instance_id} exists with another plan")
            if instance is None:
                instance = _Instance(
                    plan_id=plan_id,
                    port=self._ports.allocate(),
                    password=new_password(),
                    admin_password=new_password(),
                )
                instances[instance_id] = instance
                self._save(instances)
            self._start(self._server(instance_id, instance))
            instance.ready = True
            self._save(instances)

    def update(self, instance_id: str, *, plan_id: str, parameters: Mapping[str, Any]) -> None:
        maxmemory = _maxmemory(plan_id)
        with self._lock:
            instances = self._load()
            instance = instances.get(instance_id)
            if instance is None or not instance.ready:
                raise BackendError(f"no redis instance {instance_id}")
            server = self._server(instance_id, instance)
            server.set_maxmemory(maxmemory)
            instance.plan_id = plan_id
            self._save(instances)

    def deprovision(self, instance_id: str) -> None:
        with self._lock:
            instances = self._load()
            instance = instances.get(instance_id)
            if instance is None:
                return
            server = self._server(instance_id, instance)
            server.stop()
            shutil.rmtree(server.home, ignore_errors=True)
            self._ports.release(instance.port)
            del instances[instance_id]
            self._save(instances)

    def bind(
        self, instance_id: str, binding_id: str, *, parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            instances = self._load()
            instance = instances.get(instance_id)
            if instance is None or not instance.ready:
                raise BackendError(f"no redis instance {instance_id}")
            password = instance.bindings.get(binding_id) or new_password()
            server = self._server(instance_id, instance)
            self._start(server)
            server.add_user(binding_id, password)
            instance.bindings[binding_id] = password
            self._save(instances)
        user = binding_user(binding_id)
        host = f"[{self.host}]" if ":" in self.host else self.host
        return {
            "uri": f"redis://{user}:{password}@{host}:{instance.port}",
            "host": self.host,
            "port": instance.port,
            "username": user,
            "password": password,
        }

    def unbind(self, instance_id: str, binding_id: str) -> None:
        """Delete the binding's ACL user: its password stops working, its connections close."""
        with self._lock:
            instances = self._load()
            instance = instances.get(instance_id)
            if instance is None:
                return
            server = self._server(instance_id, instance)
            server.remove_user(binding_id)
            instance.bindings.pop(binding_id, None)
            self._save(instances)

    def backup(self, instance_id: str, target: Path) -> str:
        with self._lock:
            server = self._server(instance_id, self._instance(instance_id))
            self._start(server)
        server.snapshot(target)
        return "redis-rdb"

    def restore(self, instance_id: str, source: Path) -> None:
        with self._lock:
            self._server(instance_id, self._instance(instance_id)).replace_data(source)

    def usage(self, instance_id: str) -> Mapping[str, float] | None:
        instance = self._peek().get(instance_id)  # not waiting for a provision to finish
        if instance is None or not instance.ready or not instance.admin_password:
            return None
        server = self._server(instance_id, instance)
        if not server.running():
            return None
        client = server.client(timeout=2.0)
        try:
            memory = info(client, "memory")
            clients = info(client, "clients")
        finally:
            client.close()
        return {
            "size_bytes": float(memory["used_memory"]),
            "connections": float(max(0, int(clients["connected_clients"]) - 1)),  # not ours
        }

    def ensure_running(self) -> None:
        problems: list[str] = []
        with self._lock:
            for instance_id, instance in self._load().items():
                if not instance.ready:
                    continue
                server = self._server(instance_id, instance)
                try:
                    if not server.running():
                        self._start(server)
                except BackendError as error:
                    problems.append(f"{instance_id}: {error}")
        if problems:
            raise BackendError("some Redis servers do not run:\n" + "\n".join(problems))

    def stop(self) -> None:
        problems: list[str] = []
        with self._lock:
            for instance_id, instance in self._load().items():
                try:
                    self._server(instance_id, instance).stop()
                except BackendError as error:
                    problems.append(f"{instance_id}: {error}")
        if problems:
            raise BackendError("some Redis servers did not stop:\n" + "\n".join(problems))
