"""Heroku's release phase: a Procfile `release:` command runs once per new droplet, before the
revision it becomes takes traffic.

It runs as a one-off on that droplet, on its stack, with the environment the revision's
instances get (the app's variables, its services' credentials, `YUN_REVISION`), and the web
process's memory and disk limits, as Heroku runs it in a one-off dyno. Its output is part of
the staging output (`yun push` shows it live). Exit 0 lets the revision roll out; anything else
keeps the running revision serving and fails the build with one line saying so, as a failed
release phase does on Heroku. Typical commands: database migrations, cache warm-ups.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select

from yun.agent import ExitStatus, HealthCheckSpec, InstanceSpec
from yun.blobstore import BlobStore
from yun.settings import Settings
from yun.stacks import HOST
from yun.store.models import App, Droplet, Process, Revision

RELEASE = "release"
RELEASE_TIMEOUT = 30 * 60.0  # seconds; Heroku allows an hour, a deploy should not wait that long
DEFAULT_MEMORY_MB = 1024
DEFAULT_DISK_MB = 1024

Output = Callable[[str], None]


class OneOffRunner(Protocol):
    def run_once(self, spec: InstanceSpec, *, output: Output, timeout: float) -> ExitStatus: ...


def stack_root(settings: Settings, droplet: Droplet) -> Path | None:
    """The root of the stack the droplet was staged on (its `current` build, which the driver
    reads when it starts the process); None for the host's userland and for images."""
    if droplet.image or droplet.stack in ("", HOST):
        return None
    return settings.stacks_dir / droplet.stack / "current" / "rootfs"


def release_command(process_types: dict[str, Any]) -> str:
    return str(process_types.get(RELEASE) or "").strip()


class ReleasePhase:
    def __init__(self, *, settings: Settings, blobs: BlobStore, runner: OneOffRunner) -> None:
        self.settings = settings
        self.blobs = blobs
        self.runner = runner

    def spec(self, session: Any, *, app: App, revision: Revision, droplet: Droplet) -> InstanceSpec:
        web = session.scalar(
            select(Process).where(Process.app_guid == app.guid, Process.type == "web")
        )
        pinned = dict(revision.processes.get("web") or {})
        env = {str(k): str(v) for k, v in (revision.services or {}).items()}
        env.update({str(k): str(v) for k, v in revision.env.items()})
        env["YUN_REVISION"] = str(revision.version)
        return InstanceSpec(
            slot=f"{RELEASE}:{revision.guid}",
            app_guid=app.guid,
            app_name=app.name,
            process_guid=f"{RELEASE}-{revision.guid}",
            process_type=RELEASE,
            index=0,
            droplet=self.blobs.path(droplet.blob),
            command=release_command(droplet.process_types),
            env=env,
            memory_mb=int(pinned.get("memory_mb") or (web and web.memory_mb) or DEFAULT_MEMORY_MB),
            disk_mb=int(pinned.get("disk_mb") or (web and web.disk_mb) or DEFAULT_DISK_MB),
            health=HealthCheckSpec(type="process"),
            stack_root=stack_root(self.settings, droplet),
        )

    def run(self, spec: InstanceSpec, *, output: Output) -> str | None:
        """Run the release command; None when it succeeded, else why not (one line)."""
        output(f"Running release command: {spec.command}")
        status = self.runner.run_once(spec, output=output, timeout=RELEASE_TIMEOUT)
        if status.code == 0:
            output("Release command succeeded")
            return None
        return f"release command `{spec.command}` failed: {status.reason}"
