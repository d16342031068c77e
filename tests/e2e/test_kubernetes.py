"""The same app on this machine and on a Kubernetes cluster (a real control plane with KWOK
nodes, tests/kube): an admin registers the cluster and places a space on it; a push there
stages as usual, exports the droplet into the platform registry and runs it as a Deployment
whose pods come back as the app's instances (`yun app`, driver kubernetes); scaling changes
the replicas; the same push to a local space runs it here and serves it through the router;
deleting the app removes its objects from the cluster."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client import AppsV1Api
from tests.e2e.conftest import OBSERVED, Platform, launch
from tests.kube.cluster import Cluster, add_nodes, running_cluster

from yun.kube.client import KubeCluster
from yun.kube.render import namespace_of

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("kube-e2e")) as made:
        client = KubeCluster(made.kubeconfig)
        try:
            add_nodes(client, made)
        finally:
            client.close()
        yield made


def instances(platform: Platform, app: str) -> list[dict]:
    shown = json.loads(platform.cli("app", app, "--json").stdout)
    return [i for p in shown["processes"] for i in p.get("instance_details") or []]


def wait_running(platform: Platform, app: str, count: int, timeout: float = 120) -> list[dict]:
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        found = [i for i in instances(platform, app) if i["state"] == "RUNNING"]
        if len(found) == count:
            return found
        time.sleep(1)
    raise AssertionError(f"{len(found)} of {count} instances of {app} RUNNING: {found}")


def test_a_space_on_a_cluster_runs_its_apps_there(cluster: Cluster, tmp_path: Path) -> None:
    app = tmp_path / "ledger"
    shutil.copytree(OBSERVED, app)
    (tmp_path / "platform").mkdir()
    with launch(tmp_path / "platform") as platform:
        made = platform.cli("create-cluster", "kwok", "--kubeconfig", str(cluster.kubeconfig))
        assert "Kubernetes v1.36.3" in made.stdout
        platform.cli("create-space", "k8s", "-o", "main")
        platform.cli("set-space-cluster", "main", "k8s", "kwok")
        listed = json.loads(platform.cli("clusters", "--json").stdout)
        assert listed[0]["spaces"] == ["main/k8s"]

        platform.cli("push", "ledger", "-p", str(app), "-m", "128M")  # here, in dev
        platform.wait_for("ledger", "observed")
        platform.cli("target", "-o", "main", "-s", "k8s")
        platform.cli("push", "ledger", "-p", str(app), "-m", "128M", "--no-route")
        (running,) = wait_running(platform, "ledger", 1)
        assert running["driver"] == "kubernetes" and running["address"].startswith("10.244.")
        listed = json.loads(platform.cli("clusters", "--json").stdout)
        assert listed[0]["reachable"] is True and listed[0]["reach_reason"] == ""
        assert json.loads(platform.cli("app", "ledger", "--json").stdout)["cluster"] == "kwok"
        assert "answers" in platform.cli("clusters").stdout

        kube = KubeCluster(cluster.kubeconfig)
        try:
            namespace = namespace_of("main", "k8s")
            deployment = kube.get("apps/v1", "Deployment", "ledger-web", namespace)
            assert deployment is not None
            image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
            assert "/yun/ledger@sha256:" in image  # exported into the platform registry
            platform.cli("scale", "ledger", "-i", "3")
            wait_running(platform, "ledger", 3)
            scaled = kube.get("apps/v1", "Deployment", "ledger-web", namespace)
            assert scaled is not None and scaled["spec"]["replicas"] == 3

            # A new version rolls out through the same deployment controller as here.
            (app / "VERSION").write_text("2\n")
            pushed = platform.cli("push", "ledger", "-p", str(app), "-m", "128M", "--no-route")
            assert "Staging app" in pushed.stdout
            deadline = time.monotonic() + 120
            versions: set[int] = set()
            while time.monotonic() < deadline:
                versions = {i["version"] for i in wait_running(platform, "ledger", 3)}
                if versions == {2}:
                    break
                time.sleep(1)
            assert versions == {2}
            (latest, *_) = json.loads(platform.cli("deployments", "ledger", "--json").stdout)
            assert latest["state"] == "DEPLOYED" and latest["version"] == 2
            told = [text for _, text in latest["history"] if text.startswith("kubernetes: ")]
            assert any("Deployment ledger-web" in text for text in told), latest["history"]
            rolled = kube.get("apps/v1", "Deployment", "ledger-web", namespace)
            assert rolled is not None
            labels = rolled["spec"]["template"]["metadata"]["labels"]
            assert labels["yun.dev/revision"] == "2"
            assert kube.get("apps/v1", "Deployment", "ledger-web-canary", namespace) is None

            # Autoscaled on a cluster: its HorizontalPodAutoscaler sizes it, and the size it
            # gives the Deployment (as the HPA writes it, through the scale subresource) is the
            # app's instance count
            platform.cli("autoscale", "ledger", "--min", "2", "--max", "6", "--cpu", "60")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not kube.get(
                "autoscaling/v2", "HorizontalPodAutoscaler", "ledger-web", namespace
            ):
                time.sleep(1)
            hpa = kube.get("autoscaling/v2", "HorizontalPodAutoscaler", "ledger-web", namespace)
            assert hpa is not None and hpa["spec"]["maxReplicas"] == 6
            AppsV1Api(kube.api).patch_namespaced_deployment_scale(
                "ledger-web", namespace, {"spec": {"replicas": 5}}
            )
            wait_running(platform, "ledger", 5)
            events = json.loads(platform.cli("events", "ledger", "--json").stdout)
            sized = [e for e in events if e["type"] == "app.autoscale"]
            assert sized and sized[0]["actor"] == "kubernetes" and sized[0]["data"]["to"] == 5
            platform.cli("autoscale", "ledger", "--off")

            # A TCP route: a LoadBalancer Service at the platform's port (once the app restarts
            # with it, as everywhere)
            made = platform.cli("create-route", "ledger", "--tcp").stdout
            platform.cli("restart", "ledger")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not kube.get(
                "v1", "Service", "ledger-tcp", namespace
            ):
                time.sleep(1)
            tcp = kube.get("v1", "Service", "ledger-tcp", namespace)
            assert tcp is not None and tcp["spec"]["type"] == "LoadBalancer", made
            assert str(tcp["spec"]["ports"][0]["port"]) in made

            platform.cli("target", "-o", "main", "-s", "dev")
            here = instances(platform, "ledger")
            assert {i["driver"] for i in here} == {"process"}  # the local one stays local

            platform.cli("target", "-o", "main", "-s", "k8s")
            platform.cli("delete", "ledger", "-f")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and kube.get(
                "apps/v1", "Deployment", "ledger-web", namespace
            ):
                time.sleep(1)
            assert kube.get("apps/v1", "Deployment", "ledger-web", namespace) is None
        finally:
            kube.close()
