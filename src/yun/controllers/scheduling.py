"""The instance controller: desired instances from the store, handed to the node agent.

For every STARTED app with a revision, each process wants `instances` slots; the controller
builds one InstanceSpec per slot (the names of the process's TCP routes, as its revision pinned
them, are the extra ports it listens on) and gives the agent the full set (idempotent: the
agent starts, stops or replaces only what differs). Agent reports flow back into Instance rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from yun.agent import HealthCheckSpec, ImageSpec, InstanceReport, InstanceSpec
from yun.blobstore import BlobStore
from yun.controllers.releasing import stack_root
from yun.controllers.runtime.managing import Result
from yun.logstore import LogStore
from yun.registry import ImageConfig, port, start_command
from yun.settings import Settings
from yun.slots import parse_slot, slot_of
from yun.store import events
from yun.store.models import App, Droplet, Instance, Org, Process, Revision, Space
from yun.store.queries import route_urls
from yun.store.releases import active_deployment, instance_env, note, pinned_runtime
from yun.store.session import Store


def image_spec(image: dict[str, Any], command: str | None) -> ImageSpec:
    """How to run a docker droplet: the image's own command, or the app's through a shell."""
    config = ImageConfig(**image["config"])
    return ImageSpec(
        rootfs=Path(image["bundle"]) / "rootfs",
        argv=["/bin/sh", "-c", command] if command else start_command(config),
        env=config.env,
        working_dir=config.working_dir or "/",
        user=config.user,
        port=port(config),
        reference=pinned_reference(str(image.get("reference", "")), str(image.get("digest", ""))),
    )


def pinned_reference(reference: str, digest: str) -> str:
    """An image by its digest ("HOST/REPO@sha256:…"), so that a cluster runs what was staged."""
    if not reference or not digest:
        return reference
    name = reference.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    return f"{name}@{digest}"


@dataclass(frozen=True)
class _Side:
    """Instances [0, count) of one revision of a process."""

    revision: Revision
    droplet: Droplet
    count: int


@dataclass(frozen=True)
class _Place:
    """Where an app lives, the same for all its instances."""

    space_name: str
    org_name: str
    uris: tuple[str, ...]
    space_guid: str = ""
    org_guid: str = ""


def _place(session: Any, app: App) -> _Place:
    space = session.get(Space, app.space_guid)
    org = session.get(Org, space.org_guid) if space else None
    return _Place(
        space_name=space.name if space else "",
        org_name=org.name if org else "",
        uris=tuple(route_urls(session, app.guid)),
        space_guid=app.space_guid,
        org_guid=org.guid if org else "",
    )


class InstanceController:
    """Desired slots → the agent, with a drain before any routed instance is stopped.

    A slot that is no longer wanted (scaled down, replaced by a deployment, its app stopped) is
    not stopped at once: its Instance row is marked draining, the route controller takes it out
    of HAProxy, and only when the router no longer sends it traffic and `Timing.drain` has
    passed (requests in flight finish) does the agent get the set without it and stop it.
    """

    prefix = "instances"

    def __init__(
        self,
        *,
        store: Store,
        blobs: BlobStore,
        settings: Settings,
        agent: Any,
        wake: Callable[[str], None] = lambda key: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.wake = wake
        self.store = store
        self.blobs = blobs
        self.settings = settings
        self.agent = agent
        self.clock = clock

    def desired(self) -> list[InstanceSpec]:
        """Every slot wanted now (without the draining ones: see `reconcile`)."""
        with self.store.snapshot() as session:
            return list(self._wanted(session).values())

    def _wanted(self, session: Any) -> dict[str, InstanceSpec]:
        specs: dict[str, InstanceSpec] = {}
        for app in session.scalars(select(App).where(App.state == "STARTED")):
            place = _place(session, app)  # once per app, not per instance
            for proc in session.scalars(select(Process).where(Process.app_guid == app.guid)):
                for side in self._sides(session, app, proc):
                    for index in range(side.count):
                        spec = self._spec(app, proc, side, index, place)
                        if spec is not None:
                            specs[spec.slot] = spec
        return specs

    def _sides(self, session: Any, app: App, proc: Process) -> list[_Side]:
        """Which revisions of `proc` run how many instances: the current one, or the two of a
        deployment under way."""
        deployment = active_deployment(session, app.guid)
        if deployment is not None and proc.type in deployment.progress:
            counts = deployment.progress[proc.type]
            pairs = [
                (deployment.from_revision_guid, int(counts.get("old", 0))),
                (deployment.revision_guid, int(counts.get("new", 0))),
            ]
        else:
            # Read after the deployment, never from the App loaded before it: the pass that
            # finishes a deployment makes its revision current in the same commit, and each
            # statement sees the latest commit (SQLite without BEGIN, PostgreSQL's read
            # committed). The stale revision would replace every instance just deployed.
            current = session.scalar(select(App.revision_guid).where(App.guid == app.guid))
            pairs = [(current, proc.instances)]
        sides = []
        for guid, count in pairs:
            revision = session.get(Revision, guid) if guid else None
            droplet = session.get(Droplet, revision.droplet_guid) if revision else None
            if revision is not None and droplet is not None and count > 0:
                sides.append(_Side(revision=revision, droplet=droplet, count=count))
        return sides

    def _spec(
        self, app: App, proc: Process, side: _Side, index: int, place: _Place
    ) -> InstanceSpec | None:
        revision, droplet = side.revision, side.droplet
        pinned = dict(revision.processes.get(proc.type) or {})
        own_command = pinned.get("command") if "command" in pinned else proc.command
        command = own_command or str(revision.commands.get(proc.type) or "")
        if not command:
            return None
        image = image_spec(droplet.image, own_command) if droplet.image else None
        stackato = app.spec.get("stackato") or {}
        timing = self.settings.timing
        health = HealthCheckSpec(
            type=proc.health_check_type,
            endpoint=proc.health_check_endpoint or "/",
            timeout=float(proc.health_check_timeout or timing.health_timeout),
            invocation_timeout=float(proc.invocation_timeout or timing.http_check_timeout),
        )
        return InstanceSpec(
            slot=slot_of(proc.guid, revision.version, index),
            app_guid=app.guid,
            app_name=app.name,
            process_guid=proc.guid,
            process_type=proc.type,
            index=index,
            droplet=image.rootfs if image else self.blobs.path(droplet.blob),
            command=command,
            env=instance_env(revision),
            memory_mb=int(pinned.get("memory_mb") or proc.memory_mb),
            disk_mb=int(pinned.get("disk_mb") or proc.disk_mb),
            health=health,
            uris=place.uris if proc.type == "web" else (),
            space_name=place.space_name,
            org_name=place.org_name,
            space_guid=place.space_guid,
            org_guid=place.org_guid,
            pre_running=tuple(stackato.get("pre_running") or ()),
            image=image,
            ports=tuple(pinned.get("ports") or ()),
            stack_root=stack_root(self.settings, droplet),
            runtime=pinned_runtime(revision),
        )

    def reconcile(self, key: str) -> Result:
        now = self.clock()
        drain = self.settings.timing.drain
        waiting = undrained = False
        with self.store.session() as session:
            wanted = self._wanted(session)
            running = self.agent.desired_specs()
            for inst in session.scalars(select(Instance)):
                slot = slot_of(inst.process_guid, inst.version, inst.index)
                if slot in wanted:
                    if inst.draining_since is not None:  # wanted again before it stopped
                        inst.draining_since = None
                        undrained = True
                    continue
                if inst.state == "DOWN":
                    session.delete(inst)
                    continue
                if slot not in running:
                    continue
                if inst.draining_since is None:
                    # Only an instance the router sends traffic to needs to drain.
                    inst.draining_since = now if inst.routed else now - drain
                if inst.routed or now - inst.draining_since < drain:
                    wanted[slot] = running[slot]  # keeps running while it drains
                    waiting = True
        self.agent.set_desired(list(wanted.values()))
        if undrained:
            self.wake("routes")
        if waiting:
            self.wake("routes")
            return Result(requeue_after=min(drain, 0.5) or 0.1)
        return Result()


class InstanceReporter:
    """AgentListener: writes reports into Instance rows, crash events and log lines."""

    def __init__(self, *, store: Store, logs: LogStore, wake: Any, driver: str = "process") -> None:
        self.store = store
        self.logs = logs
        self.wake = wake
        self.driver = driver

    def on_state(self, report: InstanceReport) -> None:
        process_guid, version, index = parse_slot(report.slot)
        with self.store.session() as session:
            proc = session.get(Process, process_guid)
            if proc is None:
                session.execute(delete(Instance).where(Instance.process_guid == process_guid))
                return
            inst = session.scalar(
                select(Instance).where(
                    Instance.process_guid == process_guid,
                    Instance.version == version,
                    Instance.index == index,
                )
            )
            if inst is None:
                inst = Instance(
                    process_guid=process_guid, app_guid=proc.app_guid, version=version, index=index
                )
                session.add(inst)
            inst.instance_guid = report.instance_guid
            inst.driver = self.driver
            ports = dict(report.ports)
            if (
                inst.state != str(report.state)
                or inst.port != report.port
                or (inst.ports or {}) != ports
            ):
                inst.routed = False
            inst.state = str(report.state)
            inst.address = report.address
            inst.port = report.port
            inst.ports = ports
            inst.pid = report.pid
            inst.since = report.since
            inst.crash_count = report.crash_count
            inst.exit_code = report.exit_code
            inst.reason = report.reason
        self.wake("routes")

    def on_rollout(self, app_guid: str, text: str) -> None:
        """A line of the app's deployment under way (from a cluster's own rollout)."""
        with self.store.session() as session:
            deployment = active_deployment(session, app_guid)
            if deployment is not None:
                note(deployment, text)

    def on_scaled(self, app_guid: str, process_type: str, instances: int) -> None:
        """A cluster's HorizontalPodAutoscaler sized the process: that is its instance count."""
        with self.store.session() as session:
            app = session.get(App, app_guid)
            proc = session.scalar(
                select(Process).where(Process.app_guid == app_guid, Process.type == process_type)
            )
            if app is None or proc is None or proc.instances == instances:
                return
            events.record(
                session,
                type="app.autoscale",
                app=app,
                actor="kubernetes",
                data={
                    "from": proc.instances,
                    "to": instances,
                    "reason": "the cluster's HorizontalPodAutoscaler",
                },
            )
            proc.instances = instances
        self.wake("instances")

    def on_crash(self, report: InstanceReport) -> None:
        process_guid, _version, index = parse_slot(report.slot)
        with self.store.session() as session:
            proc = session.get(Process, process_guid)
            app = session.get(App, proc.app_guid) if proc else None
            if app is None or proc is None:
                return
            events.record(
                session,
                type="app.crash",
                app=app,
                data={
                    "process_type": proc.type,
                    "index": index,
                    "instance": report.instance_guid,
                    "exit_status": report.exit_code,
                    "reason": report.reason,
                    "crash_count": report.crash_count,
                },
            )
            self.logs.append(
                app.guid,
                "API/0",
                f"App instance exited with guid {report.instance_guid} payload: "
                f"index {index}, reason {report.reason}, exit_status {report.exit_code}",
            )

    def on_log(
        self, slot: str, instance_index: int, app_guid: str, source: str, line: str, ts: float
    ) -> None:
        self.logs.append(app_guid, source, line, ts)


def forget_instances(store: Store, process_guids: list[str]) -> None:
    with store.session() as session:
        session.execute(delete(Instance).where(Instance.process_guid.in_(process_guids)))
