"""One real control plane (tests/kube/cluster.py) for the Kubernetes tests of a pytest run, with
two KWOK nodes Ready and the Gateway API CRDs established."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from tests.kube.build import built
from tests.kube.cluster import Cluster, add_nodes, binaries, running_cluster

from yun.kube.client import KubeCluster


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
            add_nodes(client, cluster)
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
