"""Fixtures of the API tests: a real SQLite store behind the FastAPI app, logged in as admin;
`woken` records the controller keys the API wakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from yun.api.app import create_app
from yun.api.context import ApiContext
from yun.blobstore import BlobStore
from yun.logstore import LogStore
from yun.metrics.hub import MetricsHub
from yun.metrics.store import MetricsStore
from yun.settings import Settings
from yun.store.bootstrap import bootstrap
from yun.store.session import Store


@pytest.fixture
def woken() -> list[str]:
    return []


@pytest.fixture
def client(tmp_path: Path, woken: list[str]) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path, admin_password="pw")
    store = Store(settings.db_url)
    store.migrate()
    defaults = bootstrap(store, home=tmp_path, domain="apps.localhost", admin_password="pw")
    ctx = ApiContext(
        settings=settings,
        store=store,
        blobs=BlobStore(tmp_path / "blobs"),
        logs=LogStore(tmp_path / "logs"),
        defaults=defaults,
        wake=woken.append,
        metrics=MetricsHub(MetricsStore(tmp_path / "metrics"), credential="metrics-secret"),
    )
    with TestClient(create_app(ctx)) as test_client:
        token = test_client.post(
            "/v3/auth/token", json={"username": "admin", "password": "pw"}
        ).json()
        test_client.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield test_client
    store.close()
