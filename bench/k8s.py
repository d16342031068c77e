"""Seconds to bring 1, 10 and 100 apps onto a real Kubernetes control plane (kube-apiserver,
controller-manager, scheduler, etcd, KWOK nodes: tests/kube), the way the Kubernetes backend
does it (render, server-side apply, prune), and until every pod of them is Running; then the
same apply again, which must change nothing. Ratios are what count on a noisy machine: seconds
per app at 10 and 100 against 1, and a no-change apply against the first.

Usage: .venv/bin/python bench/k8s.py [--sizes 1,10,100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.kube.cluster import add_nodes, running_cluster

from yun.kube.client import KubeCluster
from yun.kube.render import Exposure, Health, ProcessSpec, Release, namespace_of, render
from yun.kube.sync import sync

WEB = ProcessSpec("web", "python app.py", 1, 128, 256, Health("http", "/", 60, 1))


def release(batch: str, index: int) -> Release:
    name = f"{batch}-app-{index}"
    return Release(
        org="bench",
        space=batch,
        app=name,
        app_guid=str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        version=1,
        image="127.0.0.1:5000/yun/bench:v1",
        processes=(WEB,),
        env={"GREETING": "hello"},
        routes=((f"{name}.apps.example", ""),),
        exposure=Exposure(ingress_class="bench"),
    )


def running(kube: KubeCluster, namespace: str) -> int:
    pods = kube.list("v1", "Pod", namespace=namespace)
    return sum(1 for pod in pods if (pod.get("status") or {}).get("phase") == "Running")


def measure(kube: KubeCluster, size: int) -> dict[str, float]:
    batch = f"b{size}"
    releases = [release(batch, index) for index in range(size)]
    started = time.perf_counter()
    for item in releases:
        sync(kube, render(item), app_guid=item.app_guid)
    applied = time.perf_counter() - started
    namespace = namespace_of("bench", batch)
    while running(kube, namespace) < size:
        if time.perf_counter() - started > 600:
            raise SystemExit(f"{size} apps: pods not Running after 600 s")
        time.sleep(0.2)
    all_running = time.perf_counter() - started
    again = time.perf_counter()
    unchanged = 0
    for item in releases:
        unchanged += len(sync(kube, render(item), app_guid=item.app_guid).unchanged)
    reapplied = time.perf_counter() - again
    objects = sum(len(render(item)) for item in releases)
    assert unchanged == objects, f"a second apply changed {objects - unchanged} objects"
    return {"apply": applied, "running": all_running, "reapply": reapplied}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,100")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    with (
        tempfile.TemporaryDirectory(prefix="yun-bench-k8s-") as folder,
        running_cluster(Path(folder)) as cluster,
    ):
        kube = KubeCluster(cluster.kubeconfig)
        try:
            add_nodes(kube, cluster)
            results = {size: measure(kube, size) for size in sizes}
        finally:
            kube.close()
    base = results[sizes[0]]["apply"] / sizes[0]
    heads = ("apps", 5), ("apply s", 8), ("s/app", 7), ("vs 1", 5), ("all Running s", 14)
    print(" ".join(f"{head:>{width}}" for head, width in heads), f"{'re-apply s':>11}")
    for size, figures in results.items():
        per_app = figures["apply"] / size
        print(
            f"{size:>5} {figures['apply']:>8.2f} {per_app:>7.3f} {per_app / base:>5.2f}"
            f" {figures['running']:>14.2f} {figures['reapply']:>11.2f}"
        )
    last = results[sizes[-1]]
    print(
        f"no-change apply / first apply at {sizes[-1]} apps: {last['reapply'] / last['apply']:.2f}"
    )


if __name__ == "__main__":
    main()
