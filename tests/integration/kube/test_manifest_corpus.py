"""Every manifest in the repo (the examples, the app templates, the test apps) pushed through the
API as `yun push` sends it, rendered as `yun k8s render` prints it, with an Ingress class and
with a Gateway, and every object accepted by the real apiserver (server-side dry-run): web and
worker-only apps, health checks of each type, bound services (as user-provided instances of
the names the manifest binds), an extra TCP route, several processes and instance counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.unit.api.conftest import client, woken  # noqa: F401 (fixtures)

from yun.kube.client import KubeCluster
from yun.manifest import parse_manifest
from yun.manifest.rendering import to_manifest
from yun.store.models import App, Droplet
from yun.store.releases import create_revision

REPO = Path(__file__).resolve().parents[3]
CORPUS = sorted(
    path
    for folder in ("examples", "src/yun/app_templates", "tests/apps")
    for path in (REPO / folder).glob("*/manifest.yml")
)
EXPOSURES = ({"ingress_class": "nginx"}, {"gateway": "infra/public"})


def test_the_corpus_is_the_repos_manifests() -> None:
    assert len(CORPUS) >= 13
    assert {p.parent.name for p in CORPUS} >= {"worker-python", "tcp-echo", "services-demo"}


@pytest.fixture
def apps(client: TestClient) -> Iterator[TestClient]:  # noqa: F811 (the fixture imported above)
    yield client


def _named(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.parent.name}"


@pytest.mark.parametrize("manifest", CORPUS, ids=_named)
def test_every_manifest_renders_objects_the_apiserver_accepts(
    apps: TestClient, kube: KubeCluster, manifest: Path
) -> None:
    for spec in parse_manifest(manifest).applications:
        for name in spec.services:
            made = apps.post(
                "/v3/service_instances",
                json={
                    "name": name,
                    "type": "user-provided",
                    "credentials": {"uri": f"postgres://app:secret@db.example:5432/{name}"},
                },
            )
            assert made.status_code in (201, 202), made.text
        pushed = apps.post("/v3/apps/push", json={"application": to_manifest(spec)})
        assert pushed.status_code == 200, pushed.text
        guid = pushed.json()["guid"]
        _stage(apps, guid, spec.command or "python app.py")
        if spec.name == "tcp-echo":
            assert apps.post("/v3/tcp_routes", json={"app": guid}).status_code == 201
        for exposure in EXPOSURES:
            answer = apps.get(
                f"/v3/apps/{guid}/kubernetes",
                params={"registry": "registry.example:5000", **exposure},
            )
            assert answer.status_code == 200, answer.text
            objects = answer.json()["objects"]
            if spec.name == "tcp-echo":  # its TCP route: a LoadBalancer Service at its port
                services = [o for o in objects if o["kind"] == "Service"]
                assert any(o["spec"]["type"] == "LoadBalancer" for o in services)
            _accepted(kube, objects)


def _stage(client: TestClient, guid: str, command: str) -> None:  # noqa: F811
    """What staging leaves: a droplet and the app's first revision with its start command."""
    store = client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.session() as session:
        app = session.get(App, guid)
        assert app is not None
        droplet = Droplet(app_guid=guid, build_guid="b", blob="a" * 64, process_types={})
        session.add(droplet)
        session.flush()
        commands = {"web": command, "worker": command}
        revision = create_revision(
            session,
            app=app,
            droplet_guid=droplet.guid,
            commands=commands,
            description="first",
            actor="admin",
        )
        app.revision_guid = revision.guid


def _accepted(kube: KubeCluster, objects: list[dict[str, Any]]) -> None:
    kinds = [o["kind"] for o in objects]
    assert kinds[0] == "Namespace" and "Deployment" in kinds
    kube.apply(objects[0])  # the namespace itself: a dry-run cannot place objects in it
    for obj in objects[1:]:
        answer = kube.apply(obj, dry_run=True)
        assert answer["metadata"]["name"] == obj["metadata"]["name"]
