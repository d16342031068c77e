"""What a revision becomes on Kubernetes, object by object, as `yun k8s render` prints it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import yaml

from yun.kube.render import (
    Autoscale,
    Canary,
    Exposure,
    Health,
    Ingress,
    ProcessSpec,
    Release,
    TcpPort,
    dns_label,
    namespace_of,
    render,
    to_yaml,
)


def release(**changes: Any) -> Release:
    base: dict[str, Any] = {
        "org": "Main",
        "space": "dev",
        "app": "shop_front",
        "app_guid": "5b0c1a52-3f33-4d0e-9f3e-0f2a1b2c3d4e",
        "version": 7,
        "image": "registry.example:5000/main/dev/shop@sha256:" + "a" * 64,
        "processes": (
            ProcessSpec("web", "python app.py", 2, 256, 1024, Health("http", "/health", 30, 2)),
            ProcessSpec("worker", "python worker.py", 1, 128, 512, Health("process")),
        ),
        "env": {"GREETING": "hi", "DATABASE_URL": "postgres://u:p@db/x"},
        "routes": (("shop.apps.example", ""), ("shop.apps.example", "/api")),
    }
    return Release(**{**base, **changes})


def by_kind(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        found.setdefault(obj["kind"], []).append(obj)
    return found


def test_a_web_and_worker_app_becomes_namespace_secret_deployments_service_route_and_pdb() -> None:
    objects = render(release())
    assert [o["kind"] for o in objects] == [
        "Namespace",
        "Secret",
        "NetworkPolicy",
        "Deployment",
        "Deployment",
        "Service",
        "Ingress",
        "PodDisruptionBudget",
    ]
    kinds = by_kind(objects)
    assert kinds["Namespace"][0]["metadata"]["name"] == "yun-main-dev"
    secret = kinds["Secret"][0]
    assert secret["metadata"]["name"] == "shop-front-v7-env"
    assert secret["stringData"]["DATABASE_URL"] == "postgres://u:p@db/x"
    web, worker = kinds["Deployment"]
    assert web["metadata"]["name"] == "shop-front-web"
    assert web["spec"]["replicas"] == 2
    assert web["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    pod = web["spec"]["template"]
    assert pod["metadata"]["labels"] == {
        "yun.dev/app": "shop-front",
        "yun.dev/process": "web",
        "yun.dev/track": "stable",
        "yun.dev/revision": "7",
        "yun.dev/app-guid": "5b0c1a52-3f33-4d0e-9f3e-0f2a1b2c3d4e",
    }
    container = pod["spec"]["containers"][0]
    assert container["command"][-1] == "python app.py"
    assert container["envFrom"] == [{"secretRef": {"name": "shop-front-v7-env"}}]
    assert container["resources"]["limits"] == {"memory": "256Mi", "ephemeral-storage": "1024Mi"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": 8080}
    assert container["startupProbe"]["failureThreshold"] == 15  # 30 s at one check every 2 s
    assert container["livenessProbe"]["timeoutSeconds"] == 2
    assert "ports" not in worker["spec"]["template"]["spec"]["containers"][0]
    assert "readinessProbe" not in worker["spec"]["template"]["spec"]["containers"][0]
    ingress = kinds["Ingress"][0]["spec"]
    assert [r["host"] for r in ingress["rules"]] == ["shop.apps.example"]
    assert [p["path"] for p in ingress["rules"][0]["http"]["paths"]] == ["/", "/api"]
    (budget,) = kinds["PodDisruptionBudget"]
    assert budget["metadata"]["name"] == "shop-front-web"  # the worker runs one instance only


def test_a_gateway_gets_an_httproute_and_autoscaling_leaves_replicas_to_the_hpa() -> None:
    objects = render(
        release(
            exposure=Exposure(gateway=("infra", "public")),
            autoscale=Autoscale(min=2, max=6, metric="cpu", target=70),
            max_in_flight=3,
        )
    )
    kinds = by_kind(objects)
    route = kinds["HTTPRoute"][0]["spec"]
    assert route["parentRefs"] == [{"namespace": "infra", "name": "public"}]
    assert route["rules"][0]["backendRefs"] == [{"name": "shop-front", "port": 80, "weight": 100}]
    web = kinds["Deployment"][0]["spec"]
    assert "replicas" not in web and web["strategy"]["rollingUpdate"]["maxSurge"] == 3
    hpa = kinds["HorizontalPodAutoscaler"][0]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert hpa["metrics"][0]["resource"]["target"] == {
        "type": "AverageValue",
        "averageValue": "700m",
    }


def test_names_are_dns_labels_and_long_ones_stay_distinct() -> None:
    assert dns_label("My App_2", "web") == "my-app-2-web"
    assert namespace_of("ACME Corp.", "prod") == "yun-acme-corp-prod"
    long_a, long_b = dns_label("a" * 80, "x"), dns_label("a" * 80, "y")
    assert len(long_a) == 63 and long_a != long_b


def test_the_yaml_stream_reads_back_as_the_objects() -> None:
    objects = render(release(routes=()))
    assert list(yaml.safe_load_all(to_yaml(objects))) == objects
    assert "Ingress" not in [o["kind"] for o in objects]  # no route, nothing to expose


def test_a_canary_runs_beside_the_stable_revision_at_its_exact_share() -> None:
    stable = release(exposure=Exposure(gateway=("infra", "public")))
    moving = release(version=8, image="registry.example:5000/yun/shop-front:v8")
    new = replace(moving, processes=moving.processes[:1])  # only web is on the move
    objects = render(stable, Canary(new, 10))
    kinds = by_kind(objects)
    assert [s["metadata"]["name"] for s in kinds["Secret"]] == [
        "shop-front-v7-env",
        "shop-front-v8-env",
    ]
    names = [d["metadata"]["name"] for d in kinds["Deployment"]]
    assert names == ["shop-front-web", "shop-front-worker", "shop-front-web-canary"]
    canary = kinds["Deployment"][2]["spec"]
    assert canary["replicas"] == 1  # 10 % of two instances, at least one
    assert canary["template"]["metadata"]["labels"]["yun.dev/revision"] == "8"
    assert canary["selector"]["matchLabels"]["yun.dev/track"] == "canary"
    services = {
        s["metadata"]["name"]: s["spec"]["selector"]["yun.dev/track"] for s in kinds["Service"]
    }
    assert services == {"shop-front": "stable", "shop-front-canary": "canary"}
    (route,) = kinds["HTTPRoute"]
    assert [(b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]] == [
        ("shop-front", 90),
        ("shop-front-canary", 10),
    ]
    moved = by_kind(render(stable, Canary(new, 50)))["HTTPRoute"][0]
    assert [b["weight"] for b in moved["spec"]["rules"][0]["backendRefs"]] == [50, 50]
    with pytest.raises(ValueError, match="canary weight 120"):
        render(stable, Canary(new, 120))

    # The worker on the move too: its new side runs beside its old one, at revision 8
    both = by_kind(render(stable, Canary(moving, 10)))["Deployment"]
    worker = next(d for d in both if d["metadata"]["name"] == "shop-front-worker-canary")
    template = worker["spec"]["template"]
    assert template["metadata"]["labels"]["yun.dev/revision"] == "8"
    (container,) = template["spec"]["containers"]
    assert container["image"].endswith("shop-front:v8")
    assert container["envFrom"] == [{"secretRef": {"name": "shop-front-v8-env"}}]


def test_a_process_at_another_revision_runs_that_revisions_image_and_env() -> None:
    web = ProcessSpec("web", "python app.py", 2, 256, 1024)
    worker = ProcessSpec(
        "worker", "python worker.py --v8", 1, 128, 512, version=8, image="r.example/yun/shop:v8"
    )
    objects = render(release(processes=(web, worker), envs={8: {"GREETING": "v8"}}))
    kinds = by_kind(objects)
    secrets = {s["metadata"]["name"]: s["stringData"] for s in kinds["Secret"]}
    assert secrets["shop-front-v8-env"] == {"GREETING": "v8"}
    assert secrets["shop-front-v7-env"]["GREETING"] == "hi"
    deployments = {d["metadata"]["name"]: d["spec"]["template"] for d in kinds["Deployment"]}
    on_move = deployments["shop-front-worker"]
    assert on_move["metadata"]["labels"]["yun.dev/revision"] == "8"
    assert on_move["spec"]["containers"][0]["image"] == "r.example/yun/shop:v8"
    assert deployments["shop-front-web"]["metadata"]["labels"]["yun.dev/revision"] == "7"


def test_a_docker_image_app_runs_its_image_command_on_its_own_port() -> None:
    image = "127.0.0.1:5005/e2e/crashy@sha256:" + "b" * 64
    web = ProcessSpec("web", "", 1, 64, 256, Health("port"), argv=("/bin/sh", "/start.sh"))
    objects = render(release(image=image, processes=(web,), port=3000))
    kinds = by_kind(objects)
    container = kinds["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == image
    assert container["command"] == ["/bin/sh", "/start.sh"]
    assert "workingDir" not in container  # the image's own
    assert container["ports"][0]["containerPort"] == 3000
    assert {"name": "PORT", "value": "3000"} in container["env"]
    assert container["readinessProbe"]["tcpSocket"] == {"port": 3000}
    assert kinds["Service"][0]["spec"]["ports"][0]["targetPort"] == 3000


def test_tcp_routes_listen_on_their_port_and_are_a_load_balancer_service() -> None:
    web = ProcessSpec("web", "python3 app.py", 2, 64, 256, Health("port"))
    objects = render(release(processes=(web,), tcp=(TcpPort("echo", 40001),)))
    kinds = by_kind(objects)
    container = kinds["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "tcp-40001", "containerPort": 40001, "protocol": "TCP"} in container["ports"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["STACKATO_HARBOR"] == env["STACKATO_HARBOR_ECHO"] == "40001"
    (tcp,) = [s for s in kinds["Service"] if s["spec"]["type"] == "LoadBalancer"]
    assert tcp["metadata"]["name"] == "shop-front-tcp"
    assert tcp["spec"]["ports"] == [
        {"name": "echo", "port": 40001, "targetPort": 40001, "protocol": "TCP"}
    ]
    assert tcp["spec"]["selector"]["yun.dev/track"] == "stable"


def test_a_sandboxed_runtime_becomes_the_pods_runtime_class() -> None:
    web = ProcessSpec("web", "python app.py", 1, 64, 256, runtime_class="gvisor")
    deployment = by_kind(render(release(processes=(web,))))["Deployment"][0]
    assert deployment["spec"]["template"]["spec"]["runtimeClassName"] == "gvisor"
    plain = by_kind(render(release()))["Deployment"][0]
    assert "runtimeClassName" not in plain["spec"]["template"]["spec"]


def test_other_apps_reach_the_apps_pods_only_as_network_policies_allow() -> None:
    frontend, metrics = (
        "0f1e2d3c-0000-4000-8000-000000000001",
        "0f1e2d3c-0000-4000-8000-000000000002",
    )
    allowed = (Ingress(frontend, "tcp", 8080, 8080), Ingress(metrics, "udp", 9000, 9100))
    (policy,) = by_kind(render(release(ingress=allowed)))["NetworkPolicy"]
    assert policy["apiVersion"] == "networking.k8s.io/v1"
    assert policy["metadata"]["name"] == "shop-front-ingress"
    spec = policy["spec"]
    pods = {"yun.dev/app-guid": "5b0c1a52-3f33-4d0e-9f3e-0f2a1b2c3d4e"}
    assert spec["podSelector"] == {"matchLabels": pods}  # every process and revision
    assert spec["policyTypes"] == ["Ingress"]
    outside, first, second = spec["ingress"]
    # what is not the platform's (an ingress controller, a Gateway) still reaches it
    assert outside == {
        "from": [
            {
                "namespaceSelector": {
                    "matchExpressions": [{"key": "yun.dev/space", "operator": "DoesNotExist"}]
                }
            }
        ]
    }
    assert first == {
        "from": [
            {
                "namespaceSelector": {},
                "podSelector": {"matchLabels": {"yun.dev/app-guid": frontend}},
            }
        ],
        "ports": [{"protocol": "TCP", "port": 8080}],
    }
    assert second["ports"] == [{"protocol": "UDP", "port": 9000, "endPort": 9100}]
    # no policy: only the outside rule, other apps of the platform are refused
    (alone,) = by_kind(render(release()))["NetworkPolicy"]
    assert len(alone["spec"]["ingress"]) == 1
