"""GET /v3/stacks and POST /v3/stacks/NAME/build, with a stacks folder whose builds are done by a
stand-in (the folder logic itself is tested in tests/unit/stacks, mmdebstrap by the shared
builds of the integration tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from yun.api.app import create_app
from yun.api.context import ApiContext
from yun.blobstore import BlobStore
from yun.logstore import LogStore
from yun.settings import Settings
from yun.stacks import BuiltStack, StackBuildError, StackStore
from yun.store.bootstrap import bootstrap
from yun.store.session import Store


class FakeStore(StackStore):
    """Built stacks from a dict; a rebuild says two lines, then succeeds or fails."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.infos: dict[str, dict[str, Any]] = {
            "bookworm": {"runtimes": {"python": "3.11.2"}, "built_at": "2026-12-06T02:30:41Z"}
        }
        self.fail = False

    def built(self, name: str) -> BuiltStack | None:
        info = self.infos.get(name)
        return None if info is None else BuiltStack(name=name, rootfs=self.root, info=info)

    def rebuild(self, name: str, *, output: Any) -> BuiltStack:
        output(f"Building stack {name} (Debian {name}) with mmdebstrap")
        output("I: downloading packages with apt...")
        if self.fail:
            raise StackBuildError(f"mmdebstrap failed to build the stack {name} (exit 25)")
        self.infos[name] = {"runtimes": {"python": "3.13.5"}, "seconds": 71.2}
        return BuiltStack(name=name, rootfs=self.root, info=self.infos[name])


@pytest.fixture
def stacks(tmp_path: Path) -> FakeStore:
    return FakeStore(tmp_path / "stacks")


@pytest.fixture
def api(tmp_path: Path, stacks: FakeStore) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path, admin_password="pw")
    store = Store(settings.db_url)
    store.migrate()
    ctx = ApiContext(
        settings=settings,
        store=store,
        blobs=BlobStore(tmp_path / "blobs"),
        logs=LogStore(tmp_path / "logs"),
        defaults=bootstrap(store, home=tmp_path, domain="apps.localhost", admin_password="pw"),
        wake=lambda _key: None,
        driver="runc",
        stacks=stacks,
    )
    with TestClient(create_app(ctx)) as client:
        token = client.post("/v3/auth/token", json={"username": "admin", "password": "pw"})
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client
    store.close()


def test_stacks_lists_each_with_its_runtimes_and_whether_built(api: TestClient) -> None:
    listed = {s["name"]: s for s in api.get("/v3/stacks").json()["resources"]}

    assert list(listed) == ["bookworm", "trixie", "testing"]
    assert listed["bookworm"]["built"] and listed["bookworm"]["runtimes"] == {"python": "3.11.2"}
    assert not listed["testing"]["built"]
    assert listed["testing"]["runtimes"]["python"].startswith("3.14")  # what the suite carries
    assert [name for name, s in listed.items() if s["default"]] == ["trixie"]


def test_a_rebuild_streams_its_progress_and_ends_ok(api: TestClient, stacks: FakeStore) -> None:
    response = api.post("/v3/stacks/trixie/build")

    assert response.status_code == 200
    assert response.text.splitlines() == [
        "Building stack trixie (Debian trixie) with mmdebstrap",
        "I: downloading packages with apt...",
        "OK 71.2",
    ]
    assert stacks.infos["trixie"]["runtimes"] == {"python": "3.13.5"}


def test_a_failed_rebuild_ends_with_its_reason(api: TestClient, stacks: FakeStore) -> None:
    stacks.fail = True

    lines = api.post("/v3/stacks/testing/build").text.splitlines()

    assert lines[-1] == "FAILED mmdebstrap failed to build the stack testing (exit 25)"


def test_an_unknown_stack_is_a_404_naming_the_stacks(api: TestClient) -> None:
    response = api.post("/v3/stacks/cflinuxfs4/build")

    assert response.status_code == 404
    assert "there is no stack 'cflinuxfs4' (stacks: bookworm, trixie, testing)" in response.text
