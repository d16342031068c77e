"""Where each app's instances run, as the instance controller's one agent: the node agent for
apps of spaces on this machine, a Kubernetes backend (`yun.kube.backend`) per cluster for apps
of spaces placed on one (`yun set-space-cluster`). The controller asks for slots and reads
reports the same way whichever runs them.

A cluster's backend is made when an app first needs it and made again when the cluster's
settings change. Droplets reach a cluster as OCI images exported into its registry (or the
platform registry when the cluster names none), once per app and revision, on their stack's
root filesystem (the default stack for a droplet staged on the host's userland): one layer per
stack build, shared by every app on it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from yun.agent.specs import AgentListener, InstanceSpec
from yun.builder.launcher import launcher_path
from yun.controllers.kube_release import autoscale_of, ingress_of, tcp_ports_of
from yun.droplet_image import repository_name
from yun.kube.render import Autoscale, Exposure, Ingress, TcpPort
from yun.registry import ImageError, export_droplet
from yun.slots import parse_slot
from yun.store.models import App, Cluster, Space
from yun.store.session import Store

if TYPE_CHECKING:
    from yun.kube.backend import KubeBackend

log = logging.getLogger("yun.server.placement")
POLL_EVERY = 2.0


@dataclass
class _Made:
    key: tuple[str, ...]  # the cluster's settings it was made with
    backend: KubeBackend
    recorded: tuple[bool | None, str] = (None, "")  # the reach last written to its row


class Placement:
    def __init__(
        self,
        *,
        store: Store,
        local: Any,
        listener: AgentListener,
        registry_url: Callable[[], str | None] = lambda: None,
        rollout: Callable[[str, str], None] = lambda app_guid, text: None,
        stack: Callable[[InstanceSpec], Path | None] = lambda spec: None,
        scaled: Callable[[str, str, int], None] = lambda app_guid, process, count: None,
    ) -> None:
        self.store = store
        self.rollout = rollout
        self.stack = stack
        self.scaled = scaled
        self.local = local
        self.listener = listener
        self.registry_url = registry_url
        self._backends: dict[str, _Made] = {}
        self._images: dict[tuple[str, str], str] = {}
        self._autoscales: dict[str, Autoscale | None] = {}  # read by _clusters, each pass
        self._tcp: dict[str, tuple[TcpPort, ...]] = {}
        self._ingress: dict[str, tuple[Ingress, ...]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the agent's interface, for the instance controller -------------------------------

    def set_desired(self, specs: Sequence[InstanceSpec]) -> None:
        clusters = self._clusters()
        placed: dict[str, list[InstanceSpec]] = {guid: [] for guid in self._backends}
        local = []
        for spec in specs:
            cluster = clusters.get(spec.app_guid)
            if cluster is None:
                local.append(spec)
            else:
                placed.setdefault(cluster.guid, []).append(spec)
        self.local.set_desired(local)
        for guid, wanted in placed.items():
            backend = self._backend(guid)
            if backend is not None:
                backend.set_desired(wanted)

    def desired_specs(self) -> dict[str, InstanceSpec]:
        found: dict[str, InstanceSpec] = dict(self.local.desired_specs())
        with self._lock:
            made = list(self._backends.values())
        for item in made:
            found.update(item.backend.desired_specs())
        return found

    # -- reports from the clusters --------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="yun-placement", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            for item in self._backends.values():
                item.backend.close()
                item.backend.cluster.close()

    def poll(self) -> None:
        with self._lock:
            made = list(self._backends.items())
        for cluster_guid, item in made:
            item.backend.poll()
            self._record_reach(cluster_guid, item)

    def _record_reach(self, cluster_guid: str, item: _Made) -> None:
        """The cluster's row says whether it answers (`yun clusters`), written when that changes."""
        reach = item.backend.reach
        now = (reach.reachable, reach.reason)
        if now == item.recorded or reach.reachable is None:
            return
        with self.store.session() as session:
            cluster = session.get(Cluster, cluster_guid)
            if cluster is not None:
                cluster.reachable, cluster.reach_reason = reach.reachable, reach.reason
                cluster.reach_since = reach.since
        item.recorded = now

    def _run(self) -> None:
        while not self._stop.wait(POLL_EVERY):
            try:
                self.poll()
            except Exception:  # one bad pass must not end the reports
                log.exception("reading the clusters' pods")

    # -- helpers --------------------------------------------------------------------------

    def _clusters(self) -> dict[str, Cluster]:
        """App guid → the cluster its space is placed on (apps on this machine are absent);
        also reads, in the same pass, what the backends ask of each such app (its autoscale
        policy, its TCP routes, the network policies toward it), so that a pass costs the same
        few queries however many apps."""
        with self.store.session() as session:
            rows = session.execute(
                select(App, Cluster)
                .join(Space, Space.guid == App.space_guid)
                .join(Cluster, Cluster.guid == Space.cluster_guid)
            ).all()
            autoscales = {app.guid: autoscale_of(app) for app, _ in rows}
            tcp = tcp_ports_of(session, autoscales)
            ingress = ingress_of(session, autoscales)
            for _, cluster in rows:
                session.expunge(cluster)
            self._autoscales, self._tcp, self._ingress = autoscales, tcp, ingress
            return {app.guid: cluster for app, cluster in rows}

    def _backend(self, cluster_guid: str) -> KubeBackend | None:
        with self.store.session() as session:
            cluster = session.get(Cluster, cluster_guid)
            if cluster is None:
                return None
            key = (
                cluster.kubeconfig,
                cluster.context,
                cluster.image_registry,
                cluster.ingress_class,
                cluster.gateway,
            )
            with self._lock:
                made = self._backends.get(cluster_guid)
                if made is not None and made.key == key:
                    return made.backend
            # The Kubernetes client is a third of the server's imports: loaded once a cluster
            # is used, not by every server.
            from yun.kube.backend import KubeBackend
            from yun.kube.client import KubeCluster, KubeError

            try:
                client = KubeCluster.from_text(cluster.kubeconfig, context=cluster.context)
            except KubeError as exc:
                log.warning("cluster %s: %s", cluster.name, exc)
                return None
            namespace, _, name = cluster.gateway.partition("/")
            exposure = Exposure(
                ingress_class=cluster.ingress_class,
                gateway=(namespace, name) if cluster.gateway else None,
            )
            registry = cluster.image_registry
            name_of_cluster = cluster.name
        backend = KubeBackend(
            client,
            listener=self.listener,
            image=lambda spec: self._image(spec, registry),
            exposure=exposure,
            rollout=self.rollout,
            tcp=self._tcp_ports,
            ingress=lambda app_guid: self._ingress.get(app_guid, ()),
            autoscale=self._autoscale,
            scaled=self.scaled,
        )
        backend.name = name_of_cluster
        with self._lock:
            old = self._backends.get(cluster_guid)
            self._backends[cluster_guid] = _Made(key, backend)
        if old is not None:
            old.backend.close()
            old.backend.cluster.close()
        return backend

    def _autoscale(self, app_guid: str) -> Autoscale | None:
        return self._autoscales.get(app_guid)

    def _tcp_ports(self, app_guid: str) -> tuple[TcpPort, ...]:
        return self._tcp.get(app_guid, ())

    def _image(self, spec: InstanceSpec, registry: str) -> str:
        """The droplet as an image in the cluster's registry (exported once per revision)."""
        _, version, _ = parse_slot(spec.slot)
        key = (spec.app_guid, str(spec.droplet))
        if key in self._images:
            return self._images[key]
        url = registry if "://" in registry else (f"https://{registry}" if registry else "")
        url = url or self.registry_url() or ""
        repository, tag = repository_name(spec.app_name), f"v{version}"
        if not url:
            log.warning("app %s: no registry to export its droplet to", spec.app_name)
            return f"{repository}:{tag}"
        stack = self.stack(spec)
        if stack is None:
            log.warning(
                "app %s: no stack is built to put under its droplet; its image holds only the"
                " droplet, which runs where the nodes' images give it a userland"
                " (build one: yun stack update NAME)",
                spec.app_name,
            )
        try:
            reference = export_droplet(
                spec.droplet,
                stack_rootfs=stack,
                registry_url=url,
                repository=repository,
                tag=tag,
                command=spec.command,
                launcher=launcher_path(),
            )
        except ImageError as exc:
            log.warning("app %s: exporting its droplet: %s", spec.app_name, exc)
            return f"{url.split('://', 1)[1]}/{repository}:{tag}"
        self._images[key] = reference
        return reference
