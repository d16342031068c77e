"""A revision as Kubernetes objects: what the Kubernetes backend applies (server-side apply, field
manager `yun`) and what `yun k8s render APP` prints for GitOps and kubectl users.

Pure: a `Release` (everything the objects depend on, read from the store by the caller) in,
plain dicts out, in the order they can be applied: the space's Namespace, the revision's Secret
(the app's environment, VCAP_APPLICATION, VCAP_SERVICES, DATABASE_URL…), the app's
NetworkPolicy, per process type a Deployment, then for the web process a Service and an
HTTPRoute (Gateway API) or an Ingress, a
HorizontalPodAutoscaler when autoscaling is on and a PodDisruptionBudget when more than one
instance runs. Names are DNS labels made from the org, space, app and process names, so they
read as what they are (`yun k8s render` output is meant to be read).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from yun.droplet_image import APP_DIR, LAUNCHER
from yun.harbor import harbor_environment

LABEL = "yun.dev"
MANAGER = "yun"
PORT = 8080
WEB = "web"
API_VERSIONS = {
    "Namespace": "v1",
    "Secret": "v1",
    "Service": "v1",
    "Deployment": "apps/v1",
    "HTTPRoute": "gateway.networking.k8s.io/v1",
    "Ingress": "networking.k8s.io/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "PodDisruptionBudget": "policy/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
}
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
GATEWAY_FORM = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
"""A Gateway as routes name it: NAMESPACE/NAME."""


@dataclass(frozen=True)
class Health:
    """The process's health check, as the local agent runs it (`yun set-health-check`)."""

    type: str = "port"  # port, http or process
    endpoint: str = "/"
    timeout: int | None = None  # seconds a start may take
    invocation_timeout: int | None = None  # seconds one check may take


@dataclass(frozen=True)
class ProcessSpec:
    type: str
    command: str
    instances: int
    memory_mb: int
    disk_mb: int
    health: Health = Health()
    guid: str = ""  # the platform's process, labelled on its pods (reports find their slot)
    argv: Sequence[str] = ()
    """A docker image app's command line (the image's own, or a shell running the app's);
    empty: `command` through the droplet's launcher."""
    version: int | None = None
    """A revision other than the release's (a deployment under way moves each process on its
    own): then it runs `image` with that revision's env (`Release.envs`); None: the release's."""
    image: str = ""
    runtime_class: str = ""
    """The pods' RuntimeClass (the cluster's name for a sandboxed runtime, e.g. gVisor's
    `gvisor`); "": the cluster's default."""


@dataclass(frozen=True)
class Autoscale:
    """`yun autoscale`: instances between `min` and `max` holding `metric` near `target`."""

    min: int
    max: int
    metric: str  # cpu (% of one core), rps, concurrency, p95_ms
    target: float


@dataclass(frozen=True)
class Exposure:
    """How the cluster takes traffic in: an Ingress of a class, or a Gateway's HTTPRoute."""

    ingress_class: str = ""
    gateway: tuple[str, str] | None = None  # (namespace, name)


@dataclass(frozen=True)
class TcpPort:
    """A TCP route (Stackato's harbor): the platform's port `port`, to a process's instances,
    which listen on the same port and find it in `STACKATO_HARBOR_<NAME>`."""

    name: str
    port: int
    process: str = "web"


@dataclass(frozen=True, order=True)
class Ingress:
    """A network policy toward the app (`yun add-network-policy`): pods of the app
    `source_guid` may open connections to its pods on `protocol` ports start-end."""

    source_guid: str
    protocol: str = "tcp"
    start_port: int = PORT
    end_port: int = PORT


@dataclass(frozen=True)
class Release:
    org: str
    space: str
    app: str
    app_guid: str
    version: int
    image: str
    processes: Sequence[ProcessSpec]
    env: Mapping[str, str]
    routes: Sequence[tuple[str, str]] = ()  # (hostname, path prefix or "")
    autoscale: Autoscale | None = None
    max_in_flight: int = 1
    grace_seconds: int = 30
    exposure: Exposure = field(default_factory=Exposure)
    port: int = PORT  # where the web process listens (a docker image's exposed port)
    tcp: Sequence[TcpPort] = ()
    envs: Mapping[int, Mapping[str, str]] = field(default_factory=dict)
    """The env of each other revision a process of the release runs (see ProcessSpec.version)."""
    ingress: Sequence[Ingress] = ()
    """Which other apps' pods may reach the app's (see `_network_policy`)."""


@dataclass(frozen=True)
class Canary:
    """A new revision of the same app running beside the release's (a canary deployment): its
    web process takes `weight` per cent of the traffic through the HTTPRoute's weights."""

    release: Release
    weight: int
    instances: int | None = None  # the new side's web instances; default: its share of all


STABLE, CANARY = "stable", "canary"


def dns_label(*parts: str, limit: int = 63) -> str:
    """Parts joined by "-" as a DNS label (RFC 1123): lowercase, [a-z0-9-], at most `limit`
    characters; a name that had to be cut keeps a short digest of the whole, so two long names
    never meet."""
    whole = "-".join(_NOT_DNS.sub("-", part.lower()).strip("-") for part in parts if part)
    whole = re.sub("-{2,}", "-", whole).strip("-") or "x"
    if len(whole) <= limit:
        return whole
    digest = hashlib.sha256(whole.encode()).hexdigest()[:8]
    return f"{whole[: limit - 9].rstrip('-')}-{digest}"


def namespace_of(org: str, space: str) -> str:
    return dns_label("yun", org, space)


def _meta(release: Release, name: str, **extra: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace_of(release.org, release.space),
        "labels": {
            f"{LABEL}/app": dns_label(release.app),
            f"{LABEL}/app-guid": release.app_guid,
            **{f"{LABEL}/{key}": value for key, value in extra.items()},
        },
    }


def _object(kind: str, metadata: dict[str, Any], **body: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSIONS[kind], "kind": kind, "metadata": metadata, **body}


def render(release: Release, canary: Canary | None = None) -> list[dict[str, Any]]:
    """Every object of the release, in the order to apply them; with a canary, also its
    revision's Secret, a Deployment and a Service of its web process, and route weights."""
    if canary is not None and not 0 <= canary.weight <= 100:
        raise ValueError(f"canary weight {canary.weight}: give 0 to 100")
    namespace = namespace_of(release.org, release.space)
    objects = [
        _object(
            "Namespace",
            {
                "name": namespace,
                "labels": {
                    f"{LABEL}/org": dns_label(release.org),
                    f"{LABEL}/space": dns_label(release.space),
                },
            },
        ),
        _secret(release),
    ]
    sides = {process.type: _side(release, process) for process in release.processes}
    objects += [_secret(side) for side in _distinct(sides.values()) if side != release]
    objects.append(_network_policy(release))
    objects += [_deployment(sides[process.type], process) for process in release.processes]
    web = next((p for p in release.processes if p.type == WEB), None)
    canary_web = (
        next((p for p in canary.release.processes if p.type == WEB), None) if canary else None
    )
    if canary is not None:
        if secret_name(canary.release) not in {o["metadata"]["name"] for o in objects}:
            objects.insert(2, _secret(canary.release))
        for moving in canary.release.processes:  # the new side of each process on the move
            if moving.type == WEB:
                share = canary.instances or max(1, round(moving.instances * canary.weight / 100))
                moving = replace(moving, instances=share)
            side = _side(canary.release, moving)
            objects.append(_deployment(side, moving, CANARY))
    if web is not None:
        objects.append(_service(release))
        if canary is not None and canary_web is not None:
            objects.append(_service(release, CANARY))
        if release.routes:
            weight = canary.weight if canary is not None and canary_web is not None else None
            objects.append(_route(release, weight))
        if release.autoscale is not None:
            objects.append(_autoscaler(release, release.autoscale))
    for process in release.processes:
        if any(port.process == process.type for port in release.tcp):
            objects.append(_tcp_service(release, process))
    for process in release.processes:
        if process.instances > 1 or (
            process.type == WEB and release.autoscale is not None and release.autoscale.min > 1
        ):
            objects.append(_disruption_budget(release, process))
    return objects


def _side(release: Release, process: ProcessSpec) -> Release:
    """The release as the process runs it: its own revision's image and env when it is at
    another revision than the release."""
    if process.version is None or process.version == release.version:
        return release
    return replace(
        release,
        version=process.version,
        image=process.image or release.image,
        env=release.envs.get(process.version, release.env),
    )


def _distinct(sides: Iterable[Release]) -> list[Release]:
    found: dict[int, Release] = {}
    for side in sides:
        found.setdefault(side.version, side)
    return list(found.values())


def secret_name(release: Release) -> str:
    return dns_label(release.app, f"v{release.version}", "env")


def _secret(release: Release) -> dict[str, Any]:
    return _object(
        "Secret",
        _meta(release, secret_name(release), revision=str(release.version)),
        type="Opaque",
        stringData={key: str(value) for key, value in sorted(release.env.items())},
    )


def _network_policy(release: Release) -> dict[str, Any]:
    """Cloud Foundry's model on a cluster: the app's pods (every process, every revision) take
    connections from anything outside the platform's namespaces (the ingress controller, a
    Gateway, monitoring), and from other apps' pods only as their network policies allow, on
    those ports. A cluster enforces it where its network plugin does (Calico, Cilium…)."""
    outside = {"matchExpressions": [{"key": f"{LABEL}/space", "operator": "DoesNotExist"}]}
    rules: list[dict[str, Any]] = [{"from": [{"namespaceSelector": outside}]}]
    for allow in sorted(set(release.ingress)):
        port: dict[str, Any] = {"protocol": allow.protocol.upper(), "port": allow.start_port}
        if allow.end_port != allow.start_port:
            port["endPort"] = allow.end_port
        source = {"matchLabels": {f"{LABEL}/app-guid": allow.source_guid}}
        rules.append({"from": [{"namespaceSelector": {}, "podSelector": source}], "ports": [port]})
    return _object(
        "NetworkPolicy",
        _meta(release, dns_label(release.app, "ingress")),
        spec={
            "podSelector": {"matchLabels": {f"{LABEL}/app-guid": release.app_guid}},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    )


def _deployment(release: Release, process: ProcessSpec, track: str = STABLE) -> dict[str, Any]:
    name = dns_label(release.app, process.type, "" if track == STABLE else track)
    selector = {
        f"{LABEL}/app": dns_label(release.app),
        f"{LABEL}/process": dns_label(process.type),
        f"{LABEL}/track": track,
    }
    pod_labels = {**selector, f"{LABEL}/revision": str(release.version)}
    if process.guid:
        pod_labels[f"{LABEL}/process-guid"] = process.guid
    pod_labels[f"{LABEL}/app-guid"] = release.app_guid
    launched = {"command": ["/bin/bash", LAUNCHER, process.command], "workingDir": APP_DIR}
    container: dict[str, Any] = {
        "name": dns_label(process.type),
        "image": release.image,
        **({"command": list(process.argv)} if process.argv else launched),
        "envFrom": [{"secretRef": {"name": secret_name(release)}}],
        "env": [{"name": "PORT", "value": str(release.port)}],
        "resources": {
            "requests": {
                "memory": f"{process.memory_mb}Mi",
                "ephemeral-storage": f"{process.disk_mb}Mi",
            },
            "limits": {
                "memory": f"{process.memory_mb}Mi",
                "ephemeral-storage": f"{process.disk_mb}Mi",
            },
        },
        **_probes(process.health, release.port),
    }
    if process.type == WEB:
        container["ports"] = [{"name": "http", "containerPort": release.port, "protocol": "TCP"}]
    harbors = [port for port in release.tcp if port.process == process.type]
    if harbors:
        container.setdefault("ports", []).extend(
            {"name": f"tcp-{port.port}", "containerPort": port.port, "protocol": "TCP"}
            for port in harbors
        )
        harbor = harbor_environment({port.name: port.port for port in harbors})
        container["env"] += [{"name": name, "value": value} for name, value in harbor.items()]
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector},
        "revisionHistoryLimit": 2,
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": max(1, release.max_in_flight), "maxUnavailable": 0},
        },
        "template": {
            "metadata": {"labels": pod_labels},
            "spec": {
                "terminationGracePeriodSeconds": release.grace_seconds,
                "enableServiceLinks": False,
                "automountServiceAccountToken": False,
                "containers": [container],
            },
        },
    }
    if process.runtime_class:
        spec["template"]["spec"]["runtimeClassName"] = process.runtime_class
    if not (process.type == WEB and release.autoscale is not None and track == STABLE):
        spec["replicas"] = process.instances  # else the autoscaler owns the count
    return _object(
        "Deployment",
        _meta(release, name, process=dns_label(process.type), revision=str(release.version)),
        spec=spec,
    )


def _probes(health: Health, port: int) -> dict[str, Any]:
    if health.type == "process":
        return {}
    if health.type == "http":
        check: dict[str, Any] = {"httpGet": {"path": health.endpoint or "/", "port": port}}
    else:
        check = {"tcpSocket": {"port": port}}
    timeout = max(1, health.invocation_timeout or 1)
    period = 2
    startup = max(1, -(-(health.timeout or 60) // period))
    return {
        "startupProbe": {
            **check,
            "periodSeconds": period,
            "timeoutSeconds": timeout,
            "failureThreshold": startup,
        },
        "readinessProbe": {
            **check,
            "periodSeconds": 5,
            "timeoutSeconds": timeout,
            "failureThreshold": 1,
        },
        "livenessProbe": {
            **check,
            "periodSeconds": 10,
            "timeoutSeconds": timeout,
            "failureThreshold": 3,
        },
    }


def _service(release: Release, track: str = STABLE) -> dict[str, Any]:
    return _object(
        "Service",
        _meta(release, service_name(release, track), process=WEB),
        spec={
            "type": "ClusterIP",
            "selector": {
                f"{LABEL}/app": dns_label(release.app),
                f"{LABEL}/process": WEB,
                f"{LABEL}/track": track,
            },
            "ports": [{"name": "http", "port": 80, "targetPort": release.port, "protocol": "TCP"}],
        },
    )


def _tcp_service(release: Release, process: ProcessSpec) -> dict[str, Any]:
    """The process's TCP routes as a LoadBalancer Service: each at the platform's port number,
    on whatever address the cluster's load balancer (or, without one, its node ports) gives."""
    name = dns_label(release.app, "" if process.type == WEB else process.type, "tcp")
    return _object(
        "Service",
        _meta(release, name, process=dns_label(process.type)),
        spec={
            "type": "LoadBalancer",
            "selector": {
                f"{LABEL}/app": dns_label(release.app),
                f"{LABEL}/process": dns_label(process.type),
                f"{LABEL}/track": STABLE,
            },
            "ports": [
                {
                    "name": dns_label(port.name, limit=15),
                    "port": port.port,
                    "targetPort": port.port,
                    "protocol": "TCP",
                }
                for port in release.tcp
                if port.process == process.type
            ],
        },
    )


def service_name(release: Release, track: str = STABLE) -> str:
    return dns_label(release.app, "" if track == STABLE else track)


def _route(release: Release, canary_weight: int | None = None) -> dict[str, Any]:
    """An HTTPRoute (weights: the canary's exact share) or an Ingress (no weights: only the
    stable revision takes traffic through it)."""
    hosts = sorted({host for host, _ in release.routes})
    paths = sorted({path or "/" for _, path in release.routes})
    backend = {"name": service_name(release), "port": 80}
    backends = [{**backend, "weight": 100}]
    if canary_weight is not None:
        backends = [
            {**backend, "weight": 100 - canary_weight},
            {"name": service_name(release, CANARY), "port": 80, "weight": canary_weight},
        ]
    name = dns_label(release.app)
    if release.exposure.gateway is not None:
        namespace, gateway = release.exposure.gateway
        return _object(
            "HTTPRoute",
            _meta(release, name),
            spec={
                "parentRefs": [{"namespace": namespace, "name": gateway}],
                "hostnames": hosts,
                "rules": [
                    {
                        "matches": [
                            {"path": {"type": "PathPrefix", "value": path}} for path in paths
                        ],
                        "backendRefs": backends,
                    }
                ],
            },
        )
    spec: dict[str, Any] = {
        "rules": [
            {
                "host": host,
                "http": {
                    "paths": [
                        {
                            "path": path,
                            "pathType": "Prefix",
                            "backend": {
                                "service": {"name": backend["name"], "port": {"number": 80}}
                            },
                        }
                        for path in paths
                    ]
                },
            }
            for host in hosts
        ]
    }
    if release.exposure.ingress_class:
        spec["ingressClassName"] = release.exposure.ingress_class
    return _object("Ingress", _meta(release, name), spec=spec)


def _autoscaler(release: Release, policy: Autoscale) -> dict[str, Any]:
    if policy.metric == "cpu":  # % of one core, per instance: as millicores, no request needed
        metric: dict[str, Any] = {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "AverageValue", "averageValue": f"{round(policy.target * 10)}m"},
            },
        }
    elif policy.metric == "p95_ms":  # a whole-app figure, from Yun's metrics adapter
        metric = {
            "type": "External",
            "external": {
                "metric": {
                    "name": "yun_p95_ms",
                    "selector": {"matchLabels": {f"{LABEL}/app-guid": release.app_guid}},
                },
                "target": {"type": "Value", "value": _quantity(policy.target)},
            },
        }
    else:  # rps, concurrency: per instance
        metric = {
            "type": "Pods",
            "pods": {
                "metric": {"name": f"yun_{policy.metric}"},
                "target": {"type": "AverageValue", "averageValue": _quantity(policy.target)},
            },
        }
    return _object(
        "HorizontalPodAutoscaler",
        _meta(release, dns_label(release.app, WEB)),
        spec={
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": dns_label(release.app, WEB),
            },
            "minReplicas": max(1, policy.min),
            "maxReplicas": max(1, policy.min, policy.max),
            "metrics": [metric],
        },
    )


def _quantity(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{round(value * 1000)}m"


def _disruption_budget(release: Release, process: ProcessSpec) -> dict[str, Any]:
    return _object(
        "PodDisruptionBudget",
        _meta(release, dns_label(release.app, process.type), process=dns_label(process.type)),
        spec={
            "maxUnavailable": 1,
            "selector": {
                "matchLabels": {
                    f"{LABEL}/app": dns_label(release.app),
                    f"{LABEL}/process": dns_label(process.type),
                }
            },
        },
    )


def to_yaml(objects: Sequence[Mapping[str, Any]]) -> str:
    """The objects as one YAML stream (`---` between them), as kubectl apply -f takes it."""
    return yaml.safe_dump_all(
        [json.loads(json.dumps(obj)) for obj in objects], sort_keys=False, default_flow_style=False
    )
