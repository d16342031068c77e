"""Rendered revisions against a real control plane (kube-apiserver, controller-manager, scheduler,
etcd and KWOK nodes, built from Kubernetes' own modules): server-side apply creates them, the
Deployment's pods are scheduled and Running with IPs, an unchanged apply changes nothing, a
scale is a new replica count, and every variant of the renderer is accepted by the apiserver."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Any

import pytest

from yun.kube.client import KubeCluster
from yun.kube.render import (
    API_VERSIONS,
    Autoscale,
    Canary,
    Exposure,
    Health,
    ProcessSpec,
    Release,
    dns_label,
    namespace_of,
    render,
)
from yun.kube.sync import remove, sync

pytestmark = pytest.mark.integration

SHOP = str(uuid.uuid5(uuid.NAMESPACE_URL, "shop"))
WEB = ProcessSpec("web", "python app.py", 2, 256, 1024, Health("http", "/health", 60, 1))
WORKER = ProcessSpec("worker", "python worker.py", 1, 128, 512, Health("process"))


def release(app: str, **changes: Any) -> Release:
    base = Release(
        org="main",
        space="dev",
        app=app,
        app_guid=str(uuid.uuid5(uuid.NAMESPACE_URL, app)),
        version=1,
        image="127.0.0.1:5000/main/dev/app@sha256:" + "0" * 64,
        processes=(WEB,),
        env={"GREETING": "hello", "VCAP_SERVICES": "{}"},
        routes=((f"{dns_label(app)[:40]}.apps.example", ""),),
        exposure=Exposure(gateway=("yun-system", "public")),
    )
    return replace(base, **changes)


def running_pods(
    kube: KubeCluster, app: str, count: int, *, revision: int = 1, timeout: float = 60
) -> list[dict]:
    """Wait for `count` Running pods of the app's `revision`, with an IP each."""
    deadline = time.monotonic() + timeout
    pods: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        pods = [
            pod
            for pod in kube.list(
                "v1",
                "Pod",
                namespace=namespace_of("main", "dev"),
                labels=f"yun.dev/app={app},yun.dev/revision={revision}",
            )
            if pod["status"].get("phase") == "Running" and pod["status"].get("podIP")
        ]
        if len(pods) == count:
            return pods
        time.sleep(0.5)
    raise AssertionError(f"{len(pods)} of {count} pods of {app} Running")


def test_a_rendered_app_runs_and_an_unchanged_apply_changes_nothing(kube: KubeCluster) -> None:
    objects = render(release("shop"))
    first = sync(kube, objects, app_guid=SHOP)
    assert len(first.changed) == len(objects) and first.pruned == []
    namespace = namespace_of("main", "dev")
    deployment = kube.get("apps/v1", "Deployment", "shop-web", namespace)
    assert deployment is not None and deployment["spec"]["replicas"] == 2
    route = kube.get(API_VERSIONS["HTTPRoute"], "HTTPRoute", "shop", namespace)
    assert route is not None and route["spec"]["hostnames"] == ["shop.apps.example"]
    secret = kube.get("v1", "Secret", "shop-v1-env", namespace)
    assert secret is not None and set(secret["data"]) == {"GREETING", "VCAP_SERVICES"}
    pods = running_pods(kube, "shop", 2)
    assert {pod["metadata"]["labels"]["yun.dev/revision"] for pod in pods} == {"1"}

    generation = deployment["metadata"]["generation"]
    again = sync(kube, objects, app_guid=SHOP)
    assert again.changed == [] and again.pruned == []
    unchanged = kube.get("apps/v1", "Deployment", "shop-web", namespace)
    assert unchanged is not None and unchanged["metadata"]["generation"] == generation

    scaled = sync(
        kube,
        render(release("shop", processes=(replace(WEB, instances=3),))),
        app_guid=SHOP,
    )
    assert scaled.changed == ["Deployment/shop-web"]
    running_pods(kube, "shop", 3)

    second = render(release("shop", version=2, processes=(WEB, WORKER), routes=()))
    moved = sync(kube, second, app_guid=SHOP)
    assert sorted(moved.pruned) == ["HTTPRoute/shop", "Secret/shop-v1-env"]
    assert "Deployment/shop-worker" in moved.changed
    running_pods(kube, "shop", 3, revision=2)  # two web, one worker

    assert len(remove(kube, namespace=namespace, app_guid=SHOP)) == len(second) - 1
    assert kube.get("apps/v1", "Deployment", "shop-web", namespace) is None


def test_a_canary_takes_its_share_then_all_and_a_rollback_brings_the_old_revision_back(
    kube: KubeCluster,
) -> None:
    guid = str(uuid.uuid5(uuid.NAMESPACE_URL, "cart"))
    namespace = namespace_of("main", "dev")
    v1 = release("cart", app_guid=guid)
    v2 = release("cart", app_guid=guid, version=2, env={"GREETING": "hello again"})
    sync(kube, render(v1), app_guid=guid)
    running_pods(kube, "cart", 2, revision=1)

    def weights() -> list[tuple[str, int]]:
        route = kube.get(API_VERSIONS["HTTPRoute"], "HTTPRoute", "cart", namespace)
        assert route is not None
        return [(b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]]

    sync(kube, render(v1, Canary(v2, 10)), app_guid=guid)
    assert weights() == [("cart", 90), ("cart-canary", 10)]
    running_pods(kube, "cart", 1, revision=2)  # the canary, beside the two stable ones
    running_pods(kube, "cart", 2, revision=1)

    sync(kube, render(v1, Canary(v2, 50)), app_guid=guid)
    assert weights() == [("cart", 50), ("cart-canary", 50)]

    done = sync(kube, render(v2), app_guid=guid)
    assert sorted(done.pruned) == [
        "Deployment/cart-web-canary",
        "Secret/cart-v1-env",
        "Service/cart-canary",
    ]
    assert weights() == [("cart", 100)]
    running_pods(kube, "cart", 2, revision=2)

    back = sync(kube, render(v1), app_guid=guid)  # a rollback: the old revision applied again
    assert "Secret/cart-v2-env" in back.pruned
    running_pods(kube, "cart", 2, revision=1)
    remove(kube, namespace=namespace, app_guid=guid)


@pytest.mark.parametrize(
    "variant",
    [
        {"exposure": Exposure(ingress_class="nginx")},
        {"exposure": Exposure()},
        {"processes": (WORKER,), "routes": ()},
        {"processes": (WEB, WORKER), "autoscale": Autoscale(1, 5, "cpu", 55.5)},
        {"autoscale": Autoscale(2, 8, "rps", 12.5)},
        {"autoscale": Autoscale(1, 3, "concurrency", 4)},
        {"autoscale": Autoscale(1, 4, "p95_ms", 250)},
        {"app": "A_Very.Long App Name " * 4, "version": 123},
        {"routes": (("a.apps.example", "/api"), ("b.apps.example", ""))},
        {"processes": (replace(WEB, health=Health("port", "/", None, None)),)},
    ],
    ids=lambda v: ",".join(v),
)
def test_every_variant_is_accepted_by_the_apiserver(
    kube: KubeCluster, variant: dict[str, Any]
) -> None:
    changes = {key: value for key, value in variant.items() if key != "app"}
    objects = render(release(variant.get("app", "variant"), **changes))
    kube.apply(objects[0])  # the namespace must exist for a dry run of what lives in it
    for obj in objects[1:]:
        answer = kube.apply(obj, dry_run=True)
        assert answer["kind"] == obj["kind"]
