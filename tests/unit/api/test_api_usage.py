"""`GET /v3/apps/{guid}` shows what each instance uses now, next to its limits, in bytes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from yun.agent import Usage
from yun.api.app import create_app
from yun.api.context import ApiContext, UsageProvider
from yun.blobstore import BlobStore
from yun.logstore import LogStore
from yun.settings import Settings
from yun.slots import slot_of
from yun.store.bootstrap import bootstrap
from yun.store.models import Instance
from yun.store.session import Store

MIB = 1024 * 1024


@contextmanager
def api(tmp_path: Path, usage: UsageProvider | None) -> Iterator[tuple[TestClient, Store]]:
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
        wake=lambda key: None,
        usage=usage,
    )
    with TestClient(create_app(ctx)) as client:
        token = client.post("/v3/auth/token", json={"username": "admin", "password": "pw"})
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client, store
    store.close()


def push_with_two_instances(client: TestClient, store: Store) -> tuple[str, str]:
    """An app of 128M / 512M whose instance 0 runs and instance 1 crashed: (app, process)."""
    app = client.post(
        "/v3/apps/push",
        json={"application": {"name": "demo", "memory": "128M", "disk_quota": "512M"}},
    ).json()
    process_guid = app["processes"][0]["guid"]
    client.patch(f"/v3/apps/{app['guid']}/processes/web", json={"instances": 2})
    with store.session() as session:
        for index, state in ((0, "RUNNING"), (1, "CRASHED")):
            session.add(
                Instance(
                    process_guid=process_guid,
                    app_guid=app["guid"],
                    index=index,
                    instance_guid=f"guid-{index}",
                    state=state,
                    address="127.0.0.1" if state == "RUNNING" else None,
                    port=40123 if state == "RUNNING" else None,
                    driver="process",
                )
            )
    return app["guid"], process_guid


def test_instances_show_live_usage_and_their_limits(tmp_path: Path) -> None:
    asked: list[str] = []
    measured: dict[str, Usage] = {}

    def usage(slot: str) -> Usage | None:
        asked.append(slot)
        return measured.get(slot)

    with api(tmp_path, usage) as (client, store):
        guid, process_guid = push_with_two_instances(client, store)
        measured[slot_of(process_guid, 0, 0)] = Usage(memory_bytes=34 * MIB, disk_bytes=12 * MIB)
        assert client.get("/v3/apps").status_code == 200
        assert asked == []  # listings never measure: only the one app asked for
        view = client.get(f"/v3/apps/{guid}").json()
    running, crashed = view["processes"][0]["instance_details"]
    assert running == running | {
        "address": "127.0.0.1",
        "port": 40123,
        "driver": "process",
        "memory_bytes": 34 * MIB,
        "memory_limit_bytes": 128 * MIB,
        "disk_bytes": 12 * MIB,
        "disk_quota_bytes": 512 * MIB,
    }
    assert crashed == crashed | {
        "state": "CRASHED",
        "memory_bytes": None,
        "memory_limit_bytes": 128 * MIB,
        "disk_bytes": None,
        "disk_quota_bytes": 512 * MIB,
    }
    assert sorted(asked) == [slot_of(process_guid, 0, 0), slot_of(process_guid, 0, 1)]


def test_without_an_agent_usage_is_unknown_but_limits_are_shown(tmp_path: Path) -> None:
    with api(tmp_path, None) as (client, store):
        guid, _ = push_with_two_instances(client, store)
        running, _crashed = client.get(f"/v3/apps/{guid}").json()["processes"][0][
            "instance_details"
        ]
    assert (running["memory_bytes"], running["memory_limit_bytes"]) == (None, 128 * MIB)
    assert (running["disk_bytes"], running["disk_quota_bytes"]) == (None, 512 * MIB)
