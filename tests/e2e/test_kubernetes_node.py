"""An app really running on Kubernetes: a control plane (tests/kube) with one real node
(containerd, runc and a kubelet, tests/kube/node.py) whose pod sandbox image, like the app's
image, comes from the platform registry. A docker image app pushed to a space on that cluster
runs as a pod there, answers through its Service, its output reaches `yun logs` as APP lines,
and a crash (the app exits when asked to) shows up as an app.crash event with the container's
exit status while Kubernetes restarts it, an OOM kill as one with reason OOMKilled. Then a
Python app pushed as code: staged here, its droplet exported on the default stack's layer, and
served by the node."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client import CoreV1Api
from tests.e2e.conftest import OBSERVED, Platform, launch
from tests.kube.cluster import Cluster, running_cluster
from tests.kube.node import node_binaries, running_node
from tests.stacks import built_stack

from yun.kube.client import KubeCluster
from yun.kube.render import namespace_of
from yun.registry.building import build_busybox_image
from yun.registry.transfer import push
from yun.settings import Settings

pytestmark = pytest.mark.e2e

START = """#!/bin/sh
echo "crashy: serving on port $PORT"
httpd -f -p "$PORT" -h /www &
while [ ! -e /tmp/crash ] && [ ! -e /tmp/oom ]; do sleep 0.2; done
if [ -e /tmp/oom ]; then
  echo "crashy: eating memory as asked"
  exec tail /dev/zero
fi
echo "crashy: crashing as asked"
exit 3
"""
CRASH_CGI = """#!/bin/sh
touch "/tmp/${SCRIPT_NAME##*/}"
printf 'Content-Type: text/plain\\r\\n\\r\\nasked\\n'
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    node_binaries()  # a skip before anything starts where a node cannot run
    with running_cluster(tmp_path_factory.mktemp("kube-node"), nodes=0) as made:
        yield made


def crashy_image(registry: str) -> str:
    """busybox httpd behind a shell that says it serves, and exits 3 once /cgi-bin/crash is
    asked for; pushed into `registry`."""
    with tempfile.TemporaryDirectory(prefix="yun-crashy-") as work:
        layout, tag = Path(work) / "layout", "1"
        build_busybox_image(layout, tag, page="<h1>crashy on a real node</h1>\n")
        bundle = Path(work) / "bundle"
        umoci = ["umoci"]
        subprocess.run([*umoci, "unpack", "--image", f"{layout}:{tag}", str(bundle)], check=True)
        rootfs = bundle / "rootfs"
        (rootfs / "start.sh").write_text(START)
        (rootfs / "www" / "cgi-bin").mkdir()
        for name in ("crash", "oom"):
            (rootfs / "www" / "cgi-bin" / name).write_text(CRASH_CGI)
            (rootfs / "www" / "cgi-bin" / name).chmod(0o755)
        (rootfs / "start.sh").chmod(0o755)
        subprocess.run([*umoci, "repack", "--image", f"{layout}:{tag}", str(bundle)], check=True)
        subprocess.run(
            [
                *umoci,
                "config",
                "--image",
                f"{layout}:{tag}",
                "--config.entrypoint",
                "/bin/sh",
                "--config.entrypoint",
                "/start.sh",
                "--config.cmd",
                "",
            ],
            check=True,
        )
        push(layout, tag, f"{registry}/e2e/crashy:{tag}", tls_verify=False)
    return f"{registry}/e2e/crashy:1"


def instances(platform: Platform, app: str) -> list[dict]:
    shown = json.loads(platform.cli("app", app, "--json").stdout)
    return [i for p in shown["processes"] for i in p.get("instance_details") or []]


def wait_for(what: str, check, timeout: float = 120) -> object:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(1)
    raise AssertionError(f"{what} (last: {last})")


def test_an_app_runs_on_a_real_node(cluster: Cluster, tmp_path: Path) -> None:
    # Code pushed to the cluster runs on the default stack's layer: built once per machine,
    # here if no test before this one built it (on a new machine, none has).
    built_stack(Settings.from_env({}).default_stack)
    (tmp_path / "platform").mkdir()
    with launch(tmp_path / "platform") as platform:
        registry = f"127.0.0.1:{platform.env['YUN_REGISTRY_PORT']}"
        with running_node(cluster, tmp_path / "node", registry):
            image = crashy_image(registry)
            platform.cli("create-cluster", "real", "--kubeconfig", str(cluster.kubeconfig))
            platform.cli("create-space", "k8s", "-o", "main")
            platform.cli("set-space-cluster", "main", "k8s", "real")
            platform.cli("target", "-o", "main", "-s", "k8s")
            platform.cli("push", "crashy", "--docker-image", image, "-m", "64M")

            def running(app: str = "crashy") -> list[dict]:
                return [i for i in instances(platform, app) if i["state"] == "RUNNING"]

            (first,) = wait_for("crashy RUNNING on the node", running)
            assert first["driver"] == "kubernetes" and first["address"].startswith("10.246.")
            shown = platform.cli("app", "crashy").stdout  # its route is the cluster's to serve
            assert "http://crashy.apps.localhost/ (served by cluster real)" in shown

            kube = KubeCluster(cluster.kubeconfig)
            core = CoreV1Api(kube.api)
            namespace = namespace_of("main", "k8s")
            try:
                page = core.connect_get_namespaced_service_proxy_with_path(
                    "crashy:80", namespace, ""
                )
                assert "crashy on a real node" in page  # through its Service

                def logged(text: str) -> list[dict]:
                    out = platform.cli("logs", "crashy", "--recent", "--json").stdout
                    return [line for line in json.loads(out) if text in line["message"]]

                (started,) = wait_for("the app's output in yun logs", lambda: logged("serving"))
                assert started["source"] == "APP/PROC/WEB/0"

                core.connect_get_namespaced_service_proxy_with_path(
                    "crashy:80", namespace, "cgi-bin/crash"
                )

                def crashed() -> list[dict]:
                    out = platform.cli("events", "crashy", "--json").stdout
                    return [e for e in json.loads(out) if e["type"] == "app.crash"]

                (crash, *_) = wait_for("an app.crash event", crashed)
                assert crash["data"]["exit_status"] == 3
                assert crash["data"]["reason"] == "Error"
                wait_for("the crash's last words in yun logs", lambda: logged("crashing as asked"))
                # Kubernetes restarted the container: it serves again, its output logged once more
                wait_for("a second start in yun logs", lambda: len(logged("serving")) == 2)
                wait_for("crashy RUNNING again", running)
                page = core.connect_get_namespaced_service_proxy_with_path(
                    "crashy:80", namespace, ""
                )
                assert "crashy on a real node" in page

                # Over its memory limit (64M), the kernel kills it: the crash says so
                core.connect_get_namespaced_service_proxy_with_path(
                    "crashy:80", namespace, "cgi-bin/oom"
                )
                oom = wait_for(
                    "an OOMKilled crash",
                    lambda: [e for e in crashed() if e["data"]["reason"] == "OOMKilled"],
                )
                assert oom[0]["data"]["exit_status"] == 137

                platform.cli("delete", "crashy", "-f")
                wait_for(
                    "the app's pods gone",
                    lambda: not kube.list("v1", "Pod", namespace=namespace),
                )

                # Code, pushed as everywhere: staged here, run there on its stack's layer
                app = tmp_path / "observed"
                shutil.copytree(OBSERVED, app)
                platform.cli("push", "observed", "-p", str(app), "-m", "128M")
                wait_for("observed RUNNING on the node", lambda: running("observed"), 300)
                page = core.connect_get_namespaced_service_proxy_with_path(
                    "observed:80", namespace, ""
                )
                assert "observed" in page
            finally:
                kube.close()
