"""The instance controller: desired instances from the store, handed to the node agent.

For every STARTED app with a revision, each process wants `instances` slots; the controller
builds one InstanceSpec per slot and gives the agent the full set (idempotent: the agent starts,
stops or replaces only what differs). Agent reports flow back into Instance rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from yun.agent import HealthCheckSpec, ImageSpec, InstanceReport, InstanceSpec
from yun.blobstore import BlobStore
from yun.controllers.runtime.managing import Result
from yun.logstore import LogStore
from yun.registry import ImageConfig, port, start_command
from yun.settings import Settings
from yun.store import events
from yun.store.models import App, Droplet, Instance, Org, Process, Revision, Space
from yun.store.queries import route_urls
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
    )


def slot_of(process_guid: str, index: int) -> str:
    return f"{process_guid}:{index}"


def parse_slot(slot: str) -> tuple[str, int]:
    process_guid, _, index = slot.rpartition(":")
    return process_guid, int(index)


class InstanceController:
    prefix = "instances"

    def __init__(self, *, store: Store, blobs: BlobStore, settings: Settings, agent: Any) -> None:
        self.store = store
        self.blobs = blobs
        self.settings = settings
        self.agent = agent

    def desired(self) -> list[InstanceSpec]:
        specs: list[InstanceSpec] = []
        with self.store.session() as session:
            apps = session.scalars(select(App).where(App.state == "STARTED"))
            for app in apps:
                if app.revision_guid is None:
                    continue
                revision = session.get(Revision, app.revision_guid)
                droplet = session.get(Droplet, revision.droplet_guid) if revision else None
                if revision is None or droplet is None:
                    continue
                space = session.get(Space, app.space_guid)
                org = session.get(Org, space.org_guid) if space else None
                uris = route_urls(session, app.guid)
                stackato = app.spec.get("stackato") or {}
                procs = session.scalars(select(Process).where(Process.app_guid == app.guid))
                for proc in procs:
                    command = proc.command or str(revision.commands.get(proc.type) or "")
                    if not command:
                        continue
                    image = image_spec(droplet.image, proc.command) if droplet.image else None
                    health = HealthCheckSpec(
                        type=proc.health_check_type,
                        endpoint=proc.health_check_endpoint or "/",
                        timeout=float(
                            proc.health_check_timeout or self.settings.timing.health_timeout
                        ),
                        invocation_timeout=float(
                            proc.invocation_timeout or self.settings.timing.http_check_timeout
                        ),
                    )
                    env = {str(k): str(v) for k, v in revision.env.items()}
                    env["YUN_REVISION"] = str(revision.version)
                    for index in range(proc.instances):
                        specs.append(
                            InstanceSpec(
                                slot=slot_of(proc.guid, index),
                                app_guid=app.guid,
                                app_name=app.name,
                                process_guid=proc.guid,
                                process_type=proc.type,
                                index=index,
                                droplet=image.rootfs if image else self.blobs.path(droplet.blob),
                                command=command,
                                env=env,
                                memory_mb=proc.memory_mb,
                                disk_mb=proc.disk_mb,
                                health=health,
                                uris=tuple(uris) if proc.type == "web" else (),
                                space_name=space.name if space else "",
                                org_name=org.name if org else "",
                                pre_running=tuple(stackato.get("pre_running") or ()),
                                image=image,
                            )
                        )
        return specs

    def reconcile(self, key: str) -> Result:
        specs = self.desired()
        self.agent.set_desired(specs)
        wanted = {s.slot for s in specs}
        with self.store.session() as session:
            for inst in session.scalars(select(Instance)):
                if slot_of(inst.process_guid, inst.index) not in wanted and inst.state == "DOWN":
                    session.delete(inst)
        return Result()


class InstanceReporter:
    """AgentListener: writes reports into Instance rows, crash events and log lines."""

    def __init__(self, *, store: Store, logs: LogStore, wake: Any, driver: str = "process") -> None:
        self.store = store
        self.logs = logs
        self.wake = wake
        self.driver = driver

    def on_state(self, report: InstanceReport) -> None:
        process_guid, index = parse_slot(report.slot)
        with self.store.session() as session:
            proc = session.get(Process, process_guid)
            if proc is None:
                session.execute(delete(Instance).where(Instance.process_guid == process_guid))
                return
            inst = session.scalar(
                select(Instance).where(
                    Instance.process_guid == process_guid, Instance.index == index
                )
            )
            if inst is None:
                inst = Instance(process_guid=process_guid, app_guid=proc.app_guid, index=index)
                session.add(inst)
            inst.instance_guid = report.instance_guid
            inst.driver = self.driver
            if inst.state != str(report.state) or inst.port != report.port:
                inst.routed = False
            inst.state = str(report.state)
            inst.address = report.address
            inst.port = report.port
            inst.pid = report.pid
            inst.since = report.since
            inst.crash_count = report.crash_count
            inst.exit_code = report.exit_code
            inst.reason = report.reason
        self.wake("routes")

    def on_crash(self, report: InstanceReport) -> None:
        process_guid, index = parse_slot(report.slot)
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
