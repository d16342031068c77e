"""Seconds from `yun push` to a RUNNING instance, the same docker image app on this machine
(runc driver) and on a Kubernetes cluster with a real node (containerd, runc, kubelet:
tests/kube), side by side, from one platform. The image (busybox httpd, from the platform
registry) is small, so what is measured is the platform's own path: staging, placing, starting,
health-checking and reporting back. The ratio cluster/local is what counts on a noisy machine.

Needs root (runc, the node). Usage: .venv/bin/python bench/k8s_push.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.conftest import Platform, launch
from tests.kube.cluster import running_cluster
from tests.kube.node import running_node
from tests.stacks import built_stack

from yun.registry.building import build_busybox_image
from yun.registry.transfer import push
from yun.settings import Settings


def running_after(platform: Platform, name: str, image: str) -> float:
    started = time.perf_counter()
    platform.cli("push", name, "--docker-image", image, "-m", "64M")
    while time.perf_counter() - started < 300:
        shown = json.loads(platform.cli("app", name, "--json").stdout)
        states = [i["state"] for p in shown["processes"] for i in p.get("instance_details") or []]
        if states == ["RUNNING"]:
            return time.perf_counter() - started
        time.sleep(0.2)
    raise SystemExit(f"{name} not RUNNING after 300 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    built_stack(Settings().default_stack)  # the runc driver runs images on the host's stack
    first = random.randrange(34000, 36000, 50)
    env = {
        "YUN_DRIVER": "runc",
        "YUN_SUBNET": "10.247.0.0/24",
        "YUN_BRIDGE": "yunbench0",
        "YUN_SERVICE_PORTS": f"{first}-{first + 49}",
    }
    with tempfile.TemporaryDirectory(prefix="yun-bench-k8s-") as work:
        base = Path(work)
        (base / "platform").mkdir()
        with (
            running_cluster(base / "cluster", nodes=0) as cluster,
            launch(base / "platform", env) as platform,
        ):
            registry = f"127.0.0.1:{platform.env['YUN_REGISTRY_PORT']}"
            with running_node(cluster, base / "node", registry):
                layout = base / "image"
                build_busybox_image(layout, "1")
                image = push(layout, "1", f"{registry}/bench/busybox:1", tls_verify=False)
                platform.cli("create-cluster", "bench", "--kubeconfig", str(cluster.kubeconfig))
                platform.cli("create-space", "k8s", "-o", "main")
                platform.cli("set-space-cluster", "main", "k8s", "bench")
                times: dict[str, list[float]] = {"local": [], "cluster": []}
                for round_ in range(rounds):
                    for where, space in (("local", "dev"), ("cluster", "k8s")):
                        platform.cli("target", "-o", "main", "-s", space)
                        name = f"bb{round_}"
                        times[where].append(running_after(platform, name, image))
                        platform.cli("delete", name, "-f")
    local, on_cluster = (statistics.median(times[k]) for k in ("local", "cluster"))
    print(f"push → RUNNING, median of {rounds} (seconds)")
    print(f"  local (runc)           {local:6.2f}   {[round(t, 2) for t in times['local']]}")
    print(f"  cluster (real node)    {on_cluster:6.2f}   {[round(t, 2) for t in times['cluster']]}")
    print(f"  ratio cluster/local    {on_cluster / local:6.2f}")


if __name__ == "__main__":
    main()
