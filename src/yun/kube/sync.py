"""Bringing a cluster to a release: apply every rendered object, then prune what the app had and
the release no longer has (an old revision's Secret, a process type gone, an autoscaler turned
off). Objects are the app's by their `yun.dev/app-guid` label, so nothing else in the namespace
is touched. Applying the same release twice changes nothing (server-side apply); a rollback is
the old revision rendered and synced again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from yun.kube.client import KubeCluster, MissingKind
from yun.kube.render import API_VERSIONS, LABEL

PRUNED = (
    "Secret",
    "Deployment",
    "Service",
    "HTTPRoute",
    "Ingress",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
)


@dataclass
class Synced:
    changed: list[str] = field(default_factory=list)  # "Kind/name" the apply changed
    unchanged: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)


def sync(cluster: KubeCluster, objects: Sequence[dict[str, Any]], *, app_guid: str) -> Synced:
    """Apply `objects` (one app's, in one namespace), then prune the app's others. What the app
    has is listed once per kind, which also tells what each apply changed."""
    synced = Synced()
    namespace = next(
        (o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"), ""
    )
    existing = _owned(cluster, namespace=namespace, app_guid=app_guid) if namespace else {}
    kept: set[tuple[str, str]] = set()
    for obj in objects:
        meta = obj["metadata"]
        key = (obj["kind"], meta["name"])
        if key in existing:
            before: dict[str, Any] | None = existing[key]
        elif obj["kind"] == "Namespace":
            before = cluster.get(obj["apiVersion"], "Namespace", meta["name"])
        else:
            before = None  # not the app's yet: made now, or taken over
        after = cluster.apply(obj)
        moved = before is None or _version(before) != _version(after)
        (synced.changed if moved else synced.unchanged).append(f"{obj['kind']}/{meta['name']}")
        kept.add(key)
    for (kind, name), _ in sorted(existing.items()):
        if (kind, name) not in kept and cluster.delete(API_VERSIONS[kind], kind, name, namespace):
            synced.pruned.append(f"{kind}/{name}")
    return synced


def _owned(
    cluster: KubeCluster, *, namespace: str, app_guid: str
) -> dict[tuple[str, str], dict[str, Any]]:
    """The app's objects in `namespace` by (kind, name); kinds the cluster does not serve (no
    Gateway API, say) are skipped."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for kind in PRUNED:
        try:
            items = cluster.list(
                API_VERSIONS[kind], kind, namespace=namespace, labels=f"{LABEL}/app-guid={app_guid}"
            )
        except MissingKind:
            continue
        found.update({(kind, item["metadata"]["name"]): item for item in items})
    return found


def prune(
    cluster: KubeCluster, *, namespace: str, app_guid: str, keep: set[tuple[str, str]]
) -> list[str]:
    """Delete the app's objects in `namespace` that are not in `keep` ((kind, name) pairs)."""
    gone = []
    for (kind, name), _ in sorted(_owned(cluster, namespace=namespace, app_guid=app_guid).items()):
        if (kind, name) not in keep and cluster.delete(API_VERSIONS[kind], kind, name, namespace):
            gone.append(f"{kind}/{name}")
    return gone


def remove(cluster: KubeCluster, *, namespace: str, app_guid: str) -> list[str]:
    """Delete every object of the app (the namespace stays: other apps may live in it)."""
    return prune(cluster, namespace=namespace, app_guid=app_guid, keep=set())


def _version(obj: dict[str, Any]) -> str:
    """What moves when the object's spec does: its generation where it has one (status updates
    by controllers leave it alone), else its resourceVersion (Secrets, Services)."""
    metadata = obj.get("metadata") or {}
    return str(metadata.get("generation") or metadata.get("resourceVersion") or "")
