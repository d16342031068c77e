"""A platform backup with a built-in Redis service, restored on another "machine" (another
broker state, another server root, another store): the first server start re-creates the
service at its broker, loads the dump, binds the app again with new credentials and gives the
app a revision with them. The old server is deleted before the restore, so the data can only
come from the dump."""

from __future__ import annotations

import io
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select
from tests.unit.controllers.deployment_world import World

from yun.api.deployments import changes
from yun.blobstore import BlobStore
from yun.brokers.builtin.osb import catalog
from yun.brokers.builtin.osb_operations import BrokerSettings, Operations
from yun.brokers.builtin.osb_state import StateFile
from yun.brokers.builtin.ports import PortAllocator
from yun.brokers.builtin.redis import OFFERING, SMALL, RedisBackend
from yun.server.recovering import recover_services
from yun.store.dumps import RESTORED_BY, DumpError, ServiceDump, restore, write
from yun.store.models import (
    App,
    Event,
    Revision,
    ServiceBackup,
    ServiceBinding,
    ServiceBroker,
    ServiceInstance,
    ServicePlan,
)
from yun.store.services import store_catalog
from yun.store.session import Store

pytestmark = pytest.mark.integration

if shutil.which("redis-server") is None:
    pytest.skip("redis-server is not installed", allow_module_level=True)

IDS = {"service_id": OFFERING.id, "plan_id": SMALL.id}
CACHE = "6f1c2a9e-0b7d-4c55-9d0e-2a1b3c4d5e6f"
SESSIONS = "7a2d3b0f-1c8e-4d66-8e1f-3b2c4d5e6f70"
BINDING = "8b3e4c1a-2d9f-4e77-9f2a-4c3d5e6f7a81"


class Machine:
    """One machine's built-in broker: a Redis backend under its own root and broker state."""

    def __init__(self, root: Path, ports: PortAllocator) -> None:
        self.backend = RedisBackend(root=root / "redis", ports=ports)
        self.ops = Operations(
            backends=[self.backend], state=StateFile(root / "osb"), settings=BrokerSettings()
        )

    def provision(self, instance: str) -> None:
        self.ops.provision(instance, **IDS, parameters={}, context={"platform": "yun"})
        for _ in range(300):
            if self.ops.last_operation(instance, operation_id=None).body["state"] != "in progress":
                return
            time.sleep(0.1)
        raise AssertionError("the Redis server was not provisioned")

    def bind(self, instance: str, binding: str) -> dict[str, Any]:
        reply = self.ops.bind(instance, binding, **IDS, parameters={}, bind_resource={})
        return dict(reply.body["credentials"])

    def close(self) -> None:
        self.ops.close()
        for instance in (CACHE, SESSIONS):
            self.backend.deprovision(instance)  # nothing to do for one it does not hold


@pytest.fixture
def machines(service_root: Path, ports: PortAllocator) -> Iterator[tuple[Machine, Machine]]:
    old, new = Machine(service_root / "old", ports), Machine(service_root / "new", ports)
    try:
        yield old, new
    finally:
        old.close()
        new.close()


def client(credentials: dict[str, Any]) -> redis.Redis:
    return redis.Redis.from_url(credentials["uri"], socket_timeout=5)


def seed(world: World, machine: Machine, credentials: dict[str, Any]) -> None:
    """The old platform's rows: its built-in broker and catalog, two Redis services, the
    app's binding to the first."""
    with world.store.session() as session:
        broker = ServiceBroker(name="yun", url="http://127.0.0.1:9/brokers/builtin", builtin=True)
        session.add(broker)
        session.flush()
        store_catalog(
            session, broker_guid=broker.guid, services=catalog([machine.backend])["services"]
        )
        plan = session.scalar(select(ServicePlan).where(ServicePlan.broker_id == SMALL.id))
        assert plan is not None
        for guid, name in ((CACHE, "cache"), (SESSIONS, "sessions")):
            session.add(
                ServiceInstance(
                    guid=guid,
                    name=name,
                    space_guid=world.defaults.space_guid,
                    kind="managed",
                    plan_guid=plan.guid,
                    last_operation={"type": "create", "state": "succeeded"},
                )
            )
        session.flush()
        session.add(
            ServiceBinding(
                guid=BINDING,
                service_instance_guid=CACHE,
                app_guid=world.app_guid,
                name="web",
                credentials=credentials,
                last_operation={"type": "create", "state": "succeeded"},
            )
        )


def test_a_restored_platform_gets_its_redis_data_back_under_new_credentials(
    tmp_path: Path, machines: tuple[Machine, Machine]
) -> None:
    old_machine, new_machine = machines
    world = World(tmp_path / "old")
    world.push(instances=1)
    old_machine.provision(CACHE)
    old_machine.provision(SESSIONS)
    old_credentials = old_machine.bind(CACHE, BINDING)
    client(old_credentials).set("visits", "41")
    seed(world, old_machine, old_credentials)

    dumps, archive = [], io.BytesIO()
    for guid, name in ((CACHE, "cache"), (SESSIONS, "sessions")):
        path = tmp_path / f"{name}.dump"
        fmt = old_machine.ops.backup(guid, path)
        dumps.append(ServiceDump(guid, name, "redis", fmt, path.stat().st_size, str(path)))
    counts = write(
        world.store,
        archive,
        blobs_dir=tmp_path / "old" / "blobs",
        registry_dir=None,
        services=dumps,
    )
    assert counts["services"] == 2
    world.close()
    old_machine.backend.deprovision(CACHE)  # the old machine is gone, and its data with it

    store = Store(f"sqlite:///{tmp_path / 'new.db'}")
    store.migrate()
    blobs = BlobStore(tmp_path / "new-blobs")
    archive.seek(0)
    with pytest.raises(DumpError, match="cannot run redis: install it"):
        restore(store, archive, blobs_dir=blobs.root, registry_dir=None, offerings={"postgresql"})
    with store.session() as session:
        assert session.scalar(select(App)) is None  # refused before anything went in
    archive.seek(0)
    restored = restore(store, archive, blobs_dir=blobs.root, registry_dir=None, offerings={"redis"})
    assert restored["services"] == 2
    with store.session() as session:
        backups = session.scalars(select(ServiceBackup)).all()
        assert {(b.created_by, b.restore["state"]) for b in backups} == {(RESTORED_BY, "PENDING")}
        lost = next(b for b in backups if b.service_instance_guid == SESSIONS)
        blobs.delete(lost.blob)  # one dump lost on the way: that service fails, the other not

    assert recover_services(store, new_machine.ops, blobs) == ["cache"]

    with store.session() as session:
        binding = session.get(ServiceBinding, BINDING)
        assert binding is not None
        new_credentials = dict(binding.credentials)
        assert new_credentials["uri"] != old_credentials["uri"]
        app = session.scalar(select(App))
        assert app is not None and app.state == "STARTED"
        revision = session.get(Revision, app.revision_guid)
        assert revision is not None and revision.version == 2
        assert revision.description == "services restored from the platform backup"
        assert revision.services["REDIS_URL"] == new_credentials["uri"]
        before = session.scalar(select(Revision).where(Revision.version == 1))
        assert changes(revision, before) == ["services"]  # what `yun revisions` shows
        assert json.loads(revision.services["VCAP_SERVICES"])["redis"][0]["name"] == "cache"
        sessions = session.get(ServiceInstance, SESSIONS)
        assert sessions is not None and sessions.last_operation["state"] == "failed"
        assert "dump is missing" in sessions.last_operation["description"]
        states = {
            b.service_instance_guid: b.restore["state"]
            for b in session.scalars(select(ServiceBackup))
        }
        assert states == {CACHE: "SUCCEEDED", SESSIONS: "FAILED"}
        kinds = [e.type for e in session.scalars(select(Event))]
        assert kinds.count("audit.service_instance.restore") == 2
    assert client(new_credentials).get("visits") == b"41"
    assert recover_services(store, new_machine.ops, blobs) == []  # done once, not again
    store.close()
