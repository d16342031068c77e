"""One real control plane (tests/kube/cluster.py) for the Kubernetes tests of a pytest run, with
two KWOK nodes Ready and the Gateway API CRDs established."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import yaml
from tests.kube.build import built
from tests.kube.cluster import Cluster, binaries, running_cluster

from yun.kube.client import KubeCluster

NODE_READY_TIMEOUT = 60.0


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = built() or binaries()  # built once per machine (minutes the first time)
    with running_cluster(tmp_path_factory.mktemp("kube")) as cluster:
        client = KubeCluster(cluster.kubeconfig)
        try:
            for crd in sorted((root / "crds").glob("*.yaml")):
                for document in yaml.safe_load_all(crd.read_text()):
                    if document:
                        client.apply(document)
            for name in cluster.nodes:
                client.apply(_node(name))
            _wait_nodes_ready(client, cluster)
        finally:
            client.close()
        yield cluster


@pytest.fixture
def kube(control_plane: Cluster) -> Iterator[KubeCluster]:
    client = KubeCluster(control_plane.kubeconfig)
    try:
        yield client
    finally:
        client.close()


def _node(name: str) -> dict[str, object]:
    """A node KWOK keeps Ready (it manages nodes with this annotation)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": {
                "cpu": "32",
                "memory": "256Gi",
                "pods": "110",
                "ephemeral-storage": "500Gi",
            },
            "capacity": {
                "cpu": "32",
                "memory": "256Gi",
                "pods": "110",
                "ephemeral-storage": "500Gi",
            },
        },
    }


def _wait_nodes_ready(client: KubeCluster, cluster: Cluster) -> None:
    deadline = time.monotonic() + NODE_READY_TIMEOUT
    while time.monotonic() < deadline:
        ready = [
            node["metadata"]["name"]
            for node in client.list("v1", "Node")
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (node.get("status") or {}).get("conditions") or []
            )
        ]
        if sorted(ready) == sorted(cluster.nodes):
            return
        time.sleep(0.5)
    raise AssertionError(f"KWOK nodes not Ready:\n{cluster.log('kwok')}")
