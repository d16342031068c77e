"""Heroku's release phase: a Procfile `release:` command runs once per new release, before the
revision takes traffic: for a new droplet (the build controller runs it, as part of staging),
and for a revision that brings a new environment, new service credentials or an older droplet
back (a restart after `yun set-env`, a rollback: `ReleaseCommands` runs it for the RELEASING
deployment `releases.release` made). Restarts that change nothing and scaling do not run it.

It runs as a one-off on that droplet, on its stack, with the environment the revision's
instances get (the app's variables, its services' credentials, `YUN_REVISION`), and the web
process's memory and disk limits, as Heroku runs it in a one-off dyno. Its output is part of
the staging output (`yun push` shows it live). Exit 0 lets the revision roll out; anything else
keeps the running revision serving and fails the build with one line saying so, as a failed
release phase does on Heroku. Typical commands: database migrations, cache warm-ups.

For a deployment, the output goes to the app's log (`REL/0` lines) as it comes, and its last
lines to the deployment's history (what `yun restart` and `yun deployments` show). A failure
ends the deployment FAILED and the running revision keeps serving. A server stopped while a
command runs runs it again when it starts (release commands should be safe to repeat, as on
Heroku).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select

from yun.agent import ExitStatus, HealthCheckSpec, InstanceSpec
from yun.blobstore import BlobStore
from yun.logstore import LogStore
from yun.settings import Settings
from yun.stacks import HOST
from yun.store import events
from yun.store.models import App, Deployment, Droplet, Process, Revision
from yun.store.releases import instance_env, note, pinned_runtime, plan_of, releasing, roll_out
from yun.store.session import Store

RELEASE = "release"
RELEASE_TIMEOUT = 30 * 60.0  # seconds; Heroku allows an hour, a deploy should not wait that long
DEFAULT_MEMORY_MB = 1024
DEFAULT_DISK_MB = 1024

SHOWN_LINES = 20  # of a deployment's release command's output, kept in its history
LOG_SOURCE = "REL/0"
Output = Callable[[str], None]
log = logging.getLogger(__name__)


class OneOffRunner(Protocol):
    def run_once(self, spec: InstanceSpec, *, output: Output, timeout: float) -> ExitStatus: ...


def stack_root(settings: Settings, droplet: Droplet) -> Path | None:
    """The root of the stack the droplet was staged on (its `current` build, which the driver
    reads when it starts the process); None for the host's userland and for images."""
    if droplet.image or droplet.stack in ("", HOST):
        return None
    return settings.stacks_dir / droplet.stack / "current" / "rootfs"


def default_stack_root(settings: Settings) -> Path | None:
    """The default stack's root when it is built: what a droplet staged on the host's userland
    runs on away from this machine (a cluster's nodes have no host userland to lend it)."""
    root = settings.stacks_dir / settings.default_stack / "current" / "rootfs"
    return root if root.is_dir() else None


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
        return InstanceSpec(
            slot=f"{RELEASE}:{revision.guid}",
            app_guid=app.guid,
            app_name=app.name,
            process_guid=f"{RELEASE}-{revision.guid}",
            process_type=RELEASE,
            index=0,
            droplet=self.blobs.path(droplet.blob),
            command=release_command(revision.commands),
            env=instance_env(revision),
            memory_mb=int(pinned.get("memory_mb") or (web and web.memory_mb) or DEFAULT_MEMORY_MB),
            disk_mb=int(pinned.get("disk_mb") or (web and web.disk_mb) or DEFAULT_DISK_MB),
            health=HealthCheckSpec(type="process"),
            stack_root=stack_root(self.settings, droplet),
            runtime=pinned_runtime(revision),
        )

    def run(self, spec: InstanceSpec, *, output: Output) -> str | None:
        """Run the release command; None when it succeeded, else why not (one line)."""
        output(f"Running release command: {spec.command}")
        status = self.runner.run_once(spec, output=output, timeout=RELEASE_TIMEOUT)
        if status.code == 0:
            output("Release command succeeded")
            return None
        return f"release command `{spec.command}` failed: {status.reason}"


class ReleaseCommands:
    """Runs the release command of each RELEASING deployment, in a thread of its own (a
    migration may take minutes; other apps' deployments go on meanwhile), then rolls the
    revision out or fails the deployment."""

    def __init__(
        self, *, store: Store, logs: LogStore, phase: ReleasePhase, wake: Callable[[str], None]
    ) -> None:
        self.store = store
        self.logs = logs
        self.phase = phase
        self.wake = wake
        self._lock = threading.Lock()
        self._running: set[str] = set()

    def start_waiting(self) -> None:
        """Start the command of every RELEASING deployment that has none running."""
        with self.store.session() as session:
            waiting = [deployment.guid for deployment in releasing(session)]
        for guid in waiting:
            with self._lock:
                if guid in self._running:
                    continue
                self._running.add(guid)
            threading.Thread(target=self._run, args=(guid,), name=f"release-{guid[:8]}").start()

    def _run(self, guid: str) -> None:
        try:
            self._release(guid)
        except Exception as exc:  # a bug must not leave the deployment waiting for ever
            log.exception("release command of deployment %s", guid)
            with self.store.session() as session:
                deployment = session.get(Deployment, guid)
                if deployment is not None and deployment.state == "RELEASING":
                    deployment.state = "FAILED"
                    deployment.reason = f"could not run the release command: {exc}"
        finally:
            with self._lock:
                self._running.discard(guid)
            for key in ("deployments", "instances", "routes"):
                self.wake(key)

    def _release(self, guid: str) -> None:
        with self.store.session() as session:
            deployment = session.get(Deployment, guid)
            if deployment is None or deployment.state != "RELEASING":
                return
            app = session.get(App, deployment.app_guid)
            revision = session.get(Revision, deployment.revision_guid)
            droplet = session.get(Droplet, revision.droplet_guid) if revision else None
            if app is None or revision is None or droplet is None:
                deployment.state = "FAILED"
                deployment.reason = "the app, its revision or its droplet is gone"
                return
            spec = self.phase.spec(session, app=app, revision=revision, droplet=droplet)
            app_guid, revision_guid = app.guid, revision.guid
        said: list[str] = []

        def output(line: str) -> None:
            said.append(line)
            self.logs.append(app_guid, LOG_SOURCE, line)

        failure = self.phase.run(spec, output=output)
        with self.store.session() as session:
            deployment = session.get(Deployment, guid)
            app = session.get(App, app_guid)
            revision = session.get(Revision, revision_guid)
            if deployment is None or deployment.state != "RELEASING":
                return  # superseded or gone meanwhile: its outcome no longer matters
            for line in said[-SHOWN_LINES:]:
                note(deployment, f"release: {line}")
            if app is None or revision is None or app.state != "STARTED":
                deployment.state = "CANCELED"
                note(deployment, "the app was stopped")
            elif failure is not None:
                deployment.state = "FAILED"
                deployment.reason = failure
                revision.description = f"{revision.description} (release phase failed)"
                events.record(
                    session,
                    type="app.deployment.failed",
                    app=app,
                    data={"deployment": guid, "reason": failure},
                )
            else:
                plan = plan_of(deployment)
                roll_out(
                    session,
                    app=app,
                    revision=revision,
                    actor=deployment.created_by,
                    plan=plan,
                    deployment=deployment,
                )
