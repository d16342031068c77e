"""A platform without its data plane: the real API (FastAPI TestClient) over a SQLite store,
and the service controllers, run by hand with `settle` until their work is done."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from yun.api.app import create_app
from yun.api.context import ApiContext
from yun.blobstore import BlobStore
from yun.controllers.backing_up import BackupController
from yun.controllers.binding import BindingController
from yun.controllers.provisioning import ServiceInstanceController
from yun.logstore import LogStore
from yun.settings import Settings
from yun.store.bootstrap import Defaults, bootstrap
from yun.store.session import Store


@dataclass
class ServicePlatform:
    api: TestClient
    store: Store
    defaults: Defaults
    blobs: BlobStore
    instances: ServiceInstanceController
    bindings: BindingController
    backups: BackupController

    def settle(self, timeout: float = 20.0) -> None:
        """Run the controllers until none has anything left to do now."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waits = [
                controller.reconcile(controller.prefix).requeue_after
                for controller in (self.instances, self.bindings, self.backups)
            ]
            pending = [w for w in waits if w is not None]
            if not pending:
                return
            time.sleep(min(min(pending), 0.5))
        raise AssertionError("the service controllers did not settle")


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[ServicePlatform]:
    settings = Settings(home=tmp_path, admin_password="pw")
    store = Store(settings.db_url)
    store.migrate()
    defaults = bootstrap(store, home=tmp_path, domain="apps.localhost", admin_password="pw")
    blobs = BlobStore(tmp_path / "blobs")
    ctx = ApiContext(
        settings=settings,
        store=store,
        blobs=blobs,
        logs=LogStore(tmp_path / "logs"),
        defaults=defaults,
        wake=lambda key: None,
    )
    with TestClient(create_app(ctx)) as api:
        token = api.post("/v3/auth/token", json={"username": "admin", "password": "pw"}).json()
        api.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield ServicePlatform(
            api=api,
            store=store,
            defaults=defaults,
            blobs=blobs,
            instances=ServiceInstanceController(
                store=store, forget_blobs=lambda digests: [blobs.delete(d) for d in digests]
            ),
            bindings=BindingController(store=store),
            backups=BackupController(store=store, blobs=blobs, work_dir=tmp_path / "work"),
        )
    store.close()
