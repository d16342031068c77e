"""Clusters (admins): registered with a kubeconfig that is checked and kept sealed, listed with
the spaces on them, not deleted while a space is; `yun k8s render --cluster` takes their
registry and Gateway."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml
from fastapi.testclient import TestClient
from tests.helpers import free_port
from tests.unit.api.test_api_tasks import staged_app

from yun.kube.kubeconfig import KubeconfigError, describe, flatten
from yun.store.models import Cluster, Space


def kubeconfig(server: str, *, ca: str = "", context: str = "test") -> str:
    cluster: dict[str, str] = {"server": server}
    if ca:
        cluster["certificate-authority"] = ca
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": cluster}],
            "users": [{"name": "u", "user": {"token": "t0ken"}}],
            "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
            "current-context": context,
        }
    )


def test_a_cluster_is_registered_listed_used_for_rendering_and_deleted(client: TestClient) -> None:
    body = {
        "name": "prod",
        "kubeconfig": kubeconfig("https://10.0.0.1:6443"),
        "registry": "registry.example:5000",
        "gateway": "infra/public",
        "check": False,
    }
    made = client.post("/v3/clusters", json=body)
    assert made.status_code == 201, made.text
    assert (made.json()["server"], made.json()["context"]) == ("https://10.0.0.1:6443", "test")
    assert client.post("/v3/clusters", json=body).status_code == 409
    store = client.app.state.ctx.store  # type: ignore[attr-defined]
    sealed = store.engine.connect().exec_driver_sql("SELECT kubeconfig FROM clusters").scalar()
    assert "t0ken" not in sealed  # kept sealed, as every secret

    guid = staged_app(client, "shop")
    objects = client.get(f"/v3/apps/{guid}/kubernetes", params={"cluster": "prod"}).json()[
        "objects"
    ]
    route = next(o for o in objects if o["kind"] == "HTTPRoute")
    assert route["spec"]["parentRefs"] == [{"namespace": "infra", "name": "public"}]
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example:5000/yun/shop:v1"

    with store.session() as session:
        space = session.query(Space).one()
        space.cluster_guid = session.query(Cluster).one().guid
    listed = client.get("/v3/clusters").json()["resources"]
    assert [(c["name"], c["spaces"]) for c in listed] == [("prod", ["main/dev"])]
    refused = client.delete("/v3/clusters/prod")
    assert refused.status_code == 409 and "main/dev" in refused.text
    with store.session() as session:
        session.query(Space).one().cluster_guid = None
    assert client.delete("/v3/clusters/prod").status_code == 200
    assert client.get("/v3/clusters").json()["resources"] == []


def test_wrong_clusters_are_refused_naming_the_field(client: TestClient) -> None:
    unreachable = f"https://127.0.0.1:{free_port()}"
    cases = [
        ({"name": "local", "kubeconfig": kubeconfig(unreachable), "check": False}, "local"),
        ({"name": "Bad Name", "kubeconfig": kubeconfig(unreachable)}, "name"),
        ({"name": "x", "kubeconfig": "not: [a, kubeconfig"}, "kubeconfig"),
        ({"name": "x", "kubeconfig": kubeconfig(unreachable), "context": "other"}, "other"),
        ({"name": "x", "kubeconfig": kubeconfig(unreachable), "gateway": "public"}, "gateway"),
        ({"name": "x", "kubeconfig": kubeconfig(unreachable)}, unreachable),
    ]
    for body, named in cases:
        answer = client.post("/v3/clusters", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert named in answer.text, answer.text
    assert client.get("/v3/clusters").json()["resources"] == []


def test_a_kubeconfig_is_flattened_and_its_context_found(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    flat = yaml.safe_load(flatten(kubeconfig("https://k:6443", ca="ca.crt"), tmp_path))
    cluster = flat["clusters"][0]["cluster"]
    assert "certificate-authority" not in cluster
    assert base64.b64decode(cluster["certificate-authority-data"]).startswith(b"-----BEGIN")
    assert describe(kubeconfig("https://k:6443")).server == "https://k:6443"
    missing = kubeconfig("https://k:6443", ca="nowhere.crt")
    try:
        flatten(missing, tmp_path)
    except KubeconfigError as exc:
        assert "certificate-authority" in str(exc) and "nowhere.crt" in str(exc)
    else:
        raise AssertionError("a missing certificate file was not refused")
