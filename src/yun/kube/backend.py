"""The node agent's interface on a Kubernetes cluster: the instance controller hands it the
slots it wants (`set_desired`), it reports what runs (`poll` → the listener's `on_state`,
`on_crash`), exactly as the local agent does, so deployments, scaling and crash handling are
the same controllers' work on both.

The wanted slots of an app become a release per revision: the newest version of each process
runs as it is; when a web process runs two versions (a deployment under way) the older one is
the stable side and the newer one the canary side, with the HTTPRoute's weights proportional
to their instances (or the exact share `weights` gives, for a canary deployment). Every app is
rendered and synced (server-side apply, prune) when its wanted slots change; an app no longer
wanted has its objects removed.

Pods come back as instances: each pod of a process and version takes the next index (oldest
first) of that group's slots, RUNNING once Ready with its pod IP, STARTING before; a container
restart is a crash, with the container's last reason (OOMKilled, Error) and exit code.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from yun.agent.specs import AgentListener, InstanceReport, InstanceSpec, InstanceState
from yun.kube.client import KubeCluster, KubeError
from yun.kube.logs import PodLog, PodLogs
from yun.kube.reach import Reach
from yun.kube.render import (
    LABEL,
    PORT,
    STABLE,
    WEB,
    Autoscale,
    Canary,
    Exposure,
    Health,
    Ingress,
    ProcessSpec,
    Release,
    TcpPort,
    namespace_of,
    render,
)
from yun.kube.sync import remove, sync
from yun.runtimes import DEFAULT_RUNTIME
from yun.slots import parse_slot, slot_of

log = logging.getLogger("yun.kube.backend")


@dataclass(frozen=True)
class _Group:
    """The wanted slots of one process at one version."""

    version: int
    specs: tuple[InstanceSpec, ...]


class KubeBackend:
    def __init__(
        self,
        cluster: KubeCluster,
        *,
        listener: AgentListener,
        image: Callable[[InstanceSpec], str],
        exposure: Exposure | None = None,
        weights: Callable[[str], int | None] = lambda app_guid: None,
        grace_seconds: int = 12,
        rollout: Callable[[str, str], None] = lambda app_guid, text: None,
        tcp: Callable[[str], Sequence[TcpPort]] = lambda app_guid: (),
        ingress: Callable[[str], Sequence[Ingress]] = lambda app_guid: (),
        autoscale: Callable[[str], Autoscale | None] = lambda app_guid: None,
        scaled: Callable[[str, str, int], None] = lambda app_guid, process, count: None,
    ) -> None:
        self.cluster = cluster
        self.listener = listener
        self.image = image
        self.exposure = exposure or Exposure()
        self.weights = weights
        self.grace_seconds = grace_seconds
        self.rollout = rollout
        self.tcp = tcp
        self.ingress = ingress
        self.autoscale = autoscale
        self.scaled = scaled
        self._autoscaled: dict[str, int] = {}  # app guid -> web instances wanted at last sync
        self._rollouts: dict[str, str] = {}  # Deployment uid -> what was said of it last
        self._lock = threading.Lock()
        self._desired: dict[str, InstanceSpec] = {}
        self._synced: dict[str, tuple[str, str]] = {}  # app guid -> (namespace, fingerprint)
        self._reported: dict[str, tuple[str, str | None, int]] = {}  # slot -> state, ip, restarts
        self._logs = PodLogs(cluster, listener.on_log)
        self.reach = Reach()
        self.name = ""  # the cluster's name, for log lines

    def close(self) -> None:
        """Stop following pod logs (the cluster's objects stay as they are)."""
        self._logs.close()

    # -- the agent's interface ------------------------------------------------------------

    def set_desired(self, specs: Sequence[InstanceSpec]) -> None:
        with self._lock:
            self._desired = {spec.slot: spec for spec in specs}
            by_app: dict[str, list[InstanceSpec]] = {}
            for spec in specs:
                by_app.setdefault(spec.app_guid, []).append(spec)
            if not self.reach.due(time.time()):
                return  # it stopped answering: asked again once its backoff is over
            for app_guid, app_specs in by_app.items():
                self._sync_app(app_guid, app_specs)
            for app_guid in set(self._synced) - set(by_app):
                namespace, _ = self._synced[app_guid]
                try:
                    remove(self.cluster, namespace=namespace, app_guid=app_guid)
                except KubeError as exc:
                    self._failed(f"removing app {app_guid}", exc)
                    continue
                del self._synced[app_guid]

    def desired_specs(self) -> dict[str, InstanceSpec]:
        with self._lock:
            return dict(self._desired)

    def reports(self) -> list[InstanceReport]:
        return self.poll(notify=False)

    # -- apps → releases ------------------------------------------------------------------

    def _sync_app(self, app_guid: str, specs: list[InstanceSpec]) -> None:
        stable, canary = self.releases(specs)
        policy = self.autoscale(app_guid) if canary is None else None
        web = next((p for p in stable.processes if p.type == WEB), None)
        if policy is not None and web is not None:  # its HorizontalPodAutoscaler sizes it
            stable = replace(stable, autoscale=policy)
            self._autoscaled[app_guid] = web.instances
        else:
            self._autoscaled.pop(app_guid, None)
        weight = self.weights(app_guid)
        if canary is not None and weight is not None:
            canary = Canary(canary.release, weight, canary.instances)
        objects = render(stable, canary)
        namespace = namespace_of(stable.org, stable.space)
        fingerprint = json.dumps(objects, sort_keys=True)  # what the cluster would be given
        if self._synced.get(app_guid) == (namespace, fingerprint):
            return  # nothing it depends on changed: no calls to the cluster
        if not self.reach.due(time.time()):
            return
        try:
            synced = sync(self.cluster, objects, app_guid=app_guid)
        except KubeError as exc:
            self._failed(f"app {stable.app}", exc)
            return
        self._answered()
        self._synced[app_guid] = (namespace, fingerprint)
        if synced.changed or synced.pruned:
            log.info("app %s: changed %s, pruned %s", stable.app, synced.changed, synced.pruned)

    def releases(self, specs: Sequence[InstanceSpec]) -> tuple[Release, Canary | None]:
        """The stable release of an app's wanted slots (each process at its oldest version), and
        the canary side of the processes that run two versions (a deployment under way)."""
        groups: dict[str, list[_Group]] = {}
        for process_guid, version, spec in sorted(
            ((*parse_slot(s.slot)[:2], s) for s in specs), key=lambda t: (t[0], t[1])
        ):
            versions = groups.setdefault(process_guid, [])
            if versions and versions[-1].version == version:
                versions[-1] = _Group(version, (*versions[-1].specs, spec))
            else:
                versions.append(_Group(version, (spec,)))
        stable: list[tuple[int, InstanceSpec, int]] = []
        new_sides: list[tuple[int, InstanceSpec, int]] = []
        for versions in groups.values():
            first, last = versions[0], versions[-1]
            stable.append((first.version, first.specs[0], len(first.specs)))
            if len(versions) > 1:
                new_sides.append((last.version, last.specs[0], len(last.specs)))
        release = self._release(stable)
        if not new_sides:
            return release, None
        new_release = self._release(new_sides)
        new_web = next((count for _, spec, count in new_sides if spec.process_type == WEB), None)
        if new_web is None:  # only other processes are moving: no traffic to share
            return release, Canary(new_release, 0, None)
        total = sum(count for _, spec, count in stable if spec.process_type == WEB) + new_web
        return release, Canary(new_release, round(100 * new_web / total), new_web)

    def _release(self, processes: Sequence[tuple[int, InstanceSpec, int]]) -> Release:
        version, first, _ = max(processes, key=lambda t: t[1].process_type == WEB)
        web = next((spec for _, spec, _ in processes if spec.process_type == WEB), first)
        pulled = web.image

        def image_of(spec: InstanceSpec) -> str:  # a docker image app: its image as pulled
            made = spec.image
            return made.reference if made and made.reference else self.image(spec)

        return Release(
            org=first.org_name,
            space=first.space_name,
            app=first.app_name,
            app_guid=first.app_guid,
            version=version,
            image=image_of(web),
            processes=tuple(
                ProcessSpec(
                    type=spec.process_type,
                    command=spec.command,
                    instances=count,
                    memory_mb=spec.memory_mb,
                    disk_mb=spec.disk_mb,
                    health=Health(
                        spec.health.type,
                        spec.health.endpoint,
                        round(spec.health.timeout),
                        max(1, round(spec.health.invocation_timeout)),
                    ),
                    guid=spec.process_guid,
                    argv=tuple(spec.image.argv) if spec.image else (),
                    version=None if at == version else at,
                    image="" if at == version else image_of(spec),
                    runtime_class="" if spec.runtime == DEFAULT_RUNTIME else spec.runtime,
                )
                for at, spec, count in processes
            ),
            envs={at: dict(spec.env) for at, spec, _ in processes if at != version},
            env=dict(web.env),
            routes=tuple(_route(uri) for uri in web.uris),
            exposure=self.exposure,
            grace_seconds=self.grace_seconds,
            port=pulled.port if pulled else PORT,
            tcp=tuple(
                port
                for port in self.tcp(first.app_guid)
                if any(
                    s.process_type == port.process and port.name in s.ports for _, s, _ in processes
                )
            ),
            ingress=tuple(self.ingress(first.app_guid)),
        )

    # -- pods → instances -----------------------------------------------------------------

    def poll(self, *, notify: bool = True) -> list[InstanceReport]:
        """What runs now, as the agent's reports; with `notify`, changes go to the listener."""
        with self._lock:
            namespaces = {namespace for namespace, _ in self._synced.values()}
            desired = dict(self._desired)
        if not self.reach.due(time.time()):
            return []
        pods: list[dict[str, Any]] = []
        for namespace in sorted(namespaces):
            try:
                pods += self.cluster.list(
                    "v1", "Pod", namespace=namespace, labels=f"{LABEL}/process-guid"
                )
            except KubeError as exc:
                self._failed(f"reading pods of {namespace}", exc)
                return []
        if namespaces:
            self._answered()
        found = self._instances(pods, desired)
        reports = [report for report, _, _ in found]
        if notify:
            self._follow_rollouts(sorted(namespaces))
            self._logs.follow(_logs_of(found))
            for report, restarts, _ in found:
                self._notify(report, restarts)
            seen = {report.slot for report in reports}
            for slot in [s for s in self._reported if s not in seen]:
                self._notify(_down(slot), 0)
                del self._reported[slot]
        return reports

    def _instances(
        self, pods: list[dict[str, Any]], desired: Mapping[str, InstanceSpec]
    ) -> list[tuple[InstanceReport, int, dict[str, Any]]]:
        groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for pod in pods:
            labels = pod["metadata"].get("labels") or {}
            if pod["metadata"].get("deletionTimestamp"):
                continue  # on its way out: its slot is free for the replacement
            key = (labels.get(f"{LABEL}/process-guid", ""), int(labels.get(f"{LABEL}/revision", 0)))
            groups.setdefault(key, []).append(pod)
        found = []
        for (process_guid, version), members in groups.items():
            members.sort(
                key=lambda pod: (pod["metadata"]["creationTimestamp"], pod["metadata"]["name"])
            )
            for index, pod in enumerate(members):
                slot = slot_of(process_guid, version, index)
                spec = desired.get(slot)
                found.append((*_report(slot, pod, spec), pod))
        return found

    def _failed(self, what: str, exc: KubeError) -> None:
        """A refusal is the object's problem, said each time; no answer at all is the cluster's,
        said once, and the cluster is then asked again less and less often."""
        if not exc.unreachable:
            log.warning("cluster %s: %s: %s", self.name, what, exc)
        elif self.reach.failed(str(exc), time.time()):
            log.warning("cluster %s does not answer: %s; asking again with backoff", self.name, exc)

    def _answered(self) -> None:
        was = self.reach.reachable
        if self.reach.answered(time.time()) and was is False:
            log.info("cluster %s answers again", self.name)

    def _follow_rollouts(self, namespaces: list[str]) -> None:
        """Each Deployment's rollout, as Kubernetes tells it, into the app's deployment history
        (`yun deployments`): a line whenever its Progressing condition says something new."""
        seen = set()
        for namespace in namespaces:
            try:
                found = self.cluster.list(
                    "apps/v1", "Deployment", namespace=namespace, labels=f"{LABEL}/app-guid"
                )
            except KubeError:
                return
            for deployment in found:
                self._follow_scale(deployment)
                uid = str(deployment["metadata"].get("uid"))
                seen.add(uid)
                said = _rollout_text(deployment)
                if said and self._rollouts.get(uid) != said:
                    first = uid not in self._rollouts
                    self._rollouts[uid] = said
                    if not first or "progressing" in said:
                        labels = deployment["metadata"].get("labels") or {}
                        self.rollout(str(labels.get(f"{LABEL}/app-guid", "")), said)
        for uid in set(self._rollouts) - seen:
            del self._rollouts[uid]

    def _follow_scale(self, deployment: dict[str, Any]) -> None:
        """An autoscaled web Deployment's replicas, as its HorizontalPodAutoscaler set them,
        become the process's instances (the instance controller then wants that many)."""
        labels = deployment["metadata"].get("labels") or {}
        app_guid = str(labels.get(f"{LABEL}/app-guid", ""))
        wanted = self._autoscaled.get(app_guid)
        if wanted is None or labels.get(f"{LABEL}/process") != WEB:
            return
        spec = deployment.get("spec") or {}
        if (spec.get("selector") or {}).get("matchLabels", {}).get(f"{LABEL}/track") != STABLE:
            return
        replicas = spec.get("replicas")
        if isinstance(replicas, int) and replicas != wanted:
            self._autoscaled[app_guid] = replicas
            self.scaled(app_guid, WEB, replicas)

    def _notify(self, report: InstanceReport, restarts: int) -> None:
        before = self._reported.get(report.slot)
        now = (str(report.state), report.address, restarts)
        if before == now:
            return
        self._reported[report.slot] = now
        if before is not None and restarts > before[2]:
            self.listener.on_crash(report)
        self.listener.on_state(report)


def _report(
    slot: str, pod: dict[str, Any], spec: InstanceSpec | None
) -> tuple[InstanceReport, int]:
    status = pod.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    containers = status.get("containerStatuses") or []
    restarts = sum(int(c.get("restartCount") or 0) for c in containers)
    last = (
        next(
            (c.get("lastState", {}).get("terminated") for c in containers if c.get("lastState")),
            None,
        )
        or {}
    )
    running = status.get("phase") == "Running" and ready
    state = InstanceState.RUNNING if running else InstanceState.STARTING
    if status.get("phase") in ("Failed", "Succeeded"):
        state = InstanceState.CRASHED
    report = InstanceReport(
        slot=slot,
        instance_guid=str(pod["metadata"].get("uid") or pod["metadata"]["name"]),
        state=state,
        address=status.get("podIP") if running else None,
        port=PORT if running else None,
        pid=None,
        since=time.time(),
        crash_count=restarts,
        exit_code=last.get("exitCode"),
        reason=last.get("reason"),
        fingerprint=spec.fingerprint() if spec is not None else "",
    )
    return report, restarts


def _rollout_text(deployment: dict[str, Any]) -> str:
    """ "Deployment NAME: REASON, N/M updated, K available (message)" from its status."""
    status = deployment.get("status") or {}
    progressing = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), None
    )
    if progressing is None:
        return ""
    wanted = int((deployment.get("spec") or {}).get("replicas") or 0)
    reason = str(progressing.get("reason") or "")
    words = {
        "NewReplicaSetCreated": "progressing: new pods created",
        "ReplicaSetUpdated": "progressing",
        "FoundNewReplicaSet": "progressing",
        "NewReplicaSetAvailable": "complete",
        "ProgressDeadlineExceeded": "failed: progress deadline exceeded",
    }.get(reason, reason)
    counts = (
        f"{int(status.get('updatedReplicas') or 0)}/{wanted} updated,"
        f" {int(status.get('availableReplicas') or 0)} available"
    )
    return f"kubernetes: Deployment {deployment['metadata']['name']} {words}, {counts}"


def _logs_of(found: list[tuple[InstanceReport, int, dict[str, Any]]]) -> dict[str, PodLog]:
    """The pods whose output is worth following: those whose container has started."""
    followed = {}
    for report, _, pod in found:
        metadata, status = pod["metadata"], pod.get("status") or {}
        started = [
            c
            for c in status.get("containerStatuses") or []
            if set(c.get("state") or {}) & {"running", "terminated"} or c.get("lastState")
        ]
        if not started:
            continue
        labels = metadata.get("labels") or {}
        process = str(labels.get(f"{LABEL}/process", "web"))
        index = parse_slot(report.slot)[2]
        followed[str(metadata.get("uid") or metadata["name"])] = PodLog(
            namespace=metadata["namespace"],
            pod=metadata["name"],
            container=str(started[0]["name"]),
            slot=report.slot,
            index=index,
            app_guid=str(labels.get(f"{LABEL}/app-guid", "")),
            source=f"APP/PROC/{process.upper()}/{index}",
        )
    return followed


def _down(slot: str) -> InstanceReport:
    return InstanceReport(
        slot=slot,
        instance_guid="",
        state=InstanceState.DOWN,
        address=None,
        port=None,
        pid=None,
        since=time.time(),
        crash_count=0,
        exit_code=None,
        reason=None,
        fingerprint="",
    )


def _route(uri: str) -> tuple[str, str]:
    host, slash, path = uri.partition("/")
    return host, f"/{path}" if slash else ""
