"""The HTTP API against a real SQLite store: auth, validation errors, desired state."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from fastapi.testclient import TestClient
from tests.helpers import free_port

from yun.store.bootstrap import bootstrap
from yun.store.session import Store


def test_calls_need_a_token(client: TestClient) -> None:
    response = client.get("/v3/apps", headers={"Authorization": ""})
    assert response.status_code == 401
    assert "yun login" in response.json()["error"]["message"]


def test_wrong_password_is_401(client: TestClient) -> None:
    response = client.post("/v3/auth/token", json={"username": "admin", "password": "no"})
    assert response.status_code == 401


def test_generated_admin_password_is_written_mode_600(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.migrate()
    bootstrap(store, home=tmp_path, domain="apps.localhost", admin_password="")
    path = tmp_path / "initial-admin-password"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(path.read_text().strip()) >= 16
    store.close()


def test_push_creates_app_process_and_default_route(client: TestClient, woken: list[str]) -> None:
    response = client.post(
        "/v3/apps/push",
        json={"application": {"name": "demo", "memory": "128M", "instances": 2}, "source": "m.yml"},
    )
    assert response.status_code == 200, response.text
    app = response.json()
    assert app["routes"] == ["demo.apps.localhost"]
    web = app["processes"][0]
    assert (web["type"], web["instances"], web["memory_mb"]) == ("web", 2, 128)
    assert "instances" in woken


def test_push_with_bad_field_is_422_naming_it(client: TestClient) -> None:
    response = client.post(
        "/v3/apps/push",
        json={
            "application": {"name": "demo", "memory": "12Q"},
            "source": "manifest.yml",
            "index": 1,
        },
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("manifest.yml: applications[1].memory")
    assert client.get("/v3/apps").json()["resources"] == []


def test_route_on_unknown_domain_is_rejected(client: TestClient) -> None:
    response = client.post(
        "/v3/apps/push",
        json={"application": {"name": "demo", "routes": [{"route": "demo.example.org"}]}},
    )
    assert response.status_code == 422
    assert "routes[0].route" in response.json()["error"]["message"]


def test_start_without_droplet_is_refused(client: TestClient) -> None:
    guid = client.post("/v3/apps/push", json={"application": {"name": "demo"}}).json()["guid"]
    response = client.post(f"/v3/apps/{guid}/actions/start")
    assert response.status_code == 422
    assert "yun push" in response.json()["error"]["message"]


def test_env_set_and_unset(client: TestClient) -> None:
    guid = client.post(
        "/v3/apps/push", json={"application": {"name": "demo", "env": {"A": "1"}}}
    ).json()["guid"]
    client.patch(f"/v3/apps/{guid}/environment_variables", json={"B": "2"})
    client.patch(f"/v3/apps/{guid}/environment_variables", json={"A": None})
    env = client.get(f"/v3/apps/{guid}/env").json()["environment_variables"]
    assert env == {"B": "2"}
    bad = client.patch(f"/v3/apps/{guid}/environment_variables", json={"1X": "y"})
    assert bad.status_code == 422


def test_scale_validates_numbers(client: TestClient) -> None:
    guid = client.post("/v3/apps/push", json={"application": {"name": "demo"}}).json()["guid"]
    bad = client.patch(f"/v3/apps/{guid}/processes/web", json={"instances": -1})
    assert bad.status_code == 422
    assert "instances" in bad.json()["error"]["message"]
    ok = client.patch(f"/v3/apps/{guid}/processes/web", json={"instances": 3})
    assert ok.json()["processes"][0]["instances"] == 3


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_upload_only_missing_bits_then_package(client: TestClient) -> None:
    import hashlib

    guid = client.post("/v3/apps/push", json={"application": {"name": "demo"}}).json()["guid"]
    data = b"print('hi')\n"
    digest = hashlib.sha256(data).hexdigest()
    resources = [{"path": "app.py", "sha256": digest, "size": len(data)}]
    assert client.post("/v3/resource_match", json={"resources": resources}).json()["known"] == []
    refused = client.post(f"/v3/apps/{guid}/packages", json={"resources": resources})
    assert refused.status_code == 422 and "app.py" in refused.json()["error"]["message"]
    client.post("/v3/bits", content=_tar({digest: data}))
    known = client.post("/v3/resource_match", json={"resources": resources}).json()["known"]
    assert known == [digest]
    assert (
        client.post(f"/v3/apps/{guid}/packages", json={"resources": resources}).status_code == 200
    )


def test_package_paths_cannot_escape(client: TestClient) -> None:
    guid = client.post("/v3/apps/push", json={"application": {"name": "demo"}}).json()["guid"]
    bad = [{"path": "../etc/passwd", "sha256": "0" * 64, "size": 1}]
    response = client.post(f"/v3/apps/{guid}/packages", json={"resources": bad})
    assert response.status_code == 422
    assert "resources[0].path" in response.json()["error"]["message"]


def test_bits_that_are_not_a_tar_are_400(client: TestClient) -> None:
    response = client.post("/v3/bits", content=b"not a tar at all")
    assert response.status_code == 400


def test_a_docker_package_names_its_image_and_hides_the_password(client: TestClient) -> None:
    guid = client.post("/v3/apps/push", json={"application": {"name": "demo"}}).json()["guid"]
    body = {"type": "docker", "data": {"image": "registry.example/app:1"}}
    created = client.post(f"/v3/apps/{guid}/packages", json=body)
    assert created.status_code == 200
    assert created.json()["type"] == "docker"

    no_image = client.post(f"/v3/apps/{guid}/packages", json={"type": "docker"})
    assert no_image.status_code == 422
    assert "data.image" in no_image.json()["error"]["message"]

    user_only = {"type": "docker", "data": {"image": "r/app:1", "username": "me"}}
    refused = client.post(f"/v3/apps/{guid}/packages", json=user_only)
    assert refused.status_code == 422
    assert "data.password" in refused.json()["error"]["message"]

    blank = client.post(
        f"/v3/apps/{guid}/packages", json={"type": "docker", "data": {"image": "a b"}}
    )
    assert blank.status_code == 422


def test_export_without_a_registry_is_409(client: TestClient) -> None:
    guid = client.post("/v3/apps/push", json={"application": {"name": "demo"}}).json()["guid"]
    response = client.post(f"/v3/apps/{guid}/droplets/current/export")
    assert response.status_code == 409
    assert "registry" in response.json()["error"]["message"]


def test_a_broker_url_that_is_not_ascii_or_does_not_answer_is_a_422(client: TestClient) -> None:
    odd = client.post(
        "/v3/service_brokers",
        json={"name": "b", "url": "http://brökers.example/osb", "username": "u", "password": "p"},
    )
    assert odd.status_code == 422 and odd.json()["error"]["message"].startswith("url:")
    port = free_port()
    gone = client.post(
        "/v3/service_brokers",
        json={"name": "b", "url": f"http://127.0.0.1:{port}", "username": "u", "password": "p"},
    )
    assert gone.status_code == 422
    assert f"127.0.0.1:{port}" in gone.json()["error"]["message"]
    assert client.get("/v3/service_brokers").json()["resources"] == []
