"""Runs tasks: one-off processes on an app's droplet (`yun run-task`, cron schedules), each in a
thread of its own, outside the reconcile workers (a task may run for hours).

A PENDING task starts at once, as a one-off of the agent's driver (same stack, container,
limits and environment as the app's instances, `oneoff.run_once`), on the droplet of the
revision it was made for. Its output goes to the app's log as `TASK/<id>` lines, as it comes;
it ends SUCCEEDED on exit status 0, else FAILED with the status and why. `terminate-task`
marks it CANCELING and its runner stops it (SIGTERM, SIGKILL ten seconds later). A task runs
for at most a day, as Heroku cycles one-off dynos after 24 hours.

A stopping server stops its running tasks and fails them ("the server stopped while it ran"):
tasks are not retried, since a command that ran halfway may not be safe to run twice (Cloud
Foundry does not retry a task either). A task found RUNNING with no runner (a server that was
killed) fails the same way on the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from yun.agent import ExitStatus, HealthCheckSpec, InstanceSpec
from yun.blobstore import BlobStore
from yun.controllers.releasing import stack_root
from yun.controllers.runtime.managing import Result
from yun.controllers.scheduling import image_spec
from yun.logstore import LogStore
from yun.settings import Settings
from yun.store import events
from yun.store.models import App, Droplet, Org, Revision, Space, Task
from yun.store.releases import instance_env, pinned_runtime
from yun.store.session import Store
from yun.store.tasks import FINISHED, finish, log_source, unfinished

TASK_TIMEOUT = 24 * 3600.0  # Heroku restarts one-off dynos after 24 hours
STOP_WAIT = 15.0  # a stopping server waits this long for its tasks' runners
INTERRUPTED = "the server stopped while it ran"
Output = Callable[[str], None]
log = logging.getLogger(__name__)


class OneOffRunner(Protocol):
    def run_once(
        self,
        spec: InstanceSpec,
        *,
        output: Output,
        timeout: float,
        stop: threading.Event | None = None,
    ) -> ExitStatus: ...


class TaskController:
    prefix = "tasks"

    def __init__(
        self,
        *,
        store: Store,
        blobs: BlobStore,
        logs: LogStore,
        settings: Settings,
        runner: OneOffRunner,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.logs = logs
        self.settings = settings
        self.runner = runner
        self._lock = threading.Lock()
        self._running: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self._stopping = False

    def reconcile(self, key: str) -> Result:
        # Read under the lock: a runner writes its task's end before it leaves `_running`, so
        # a task read here as RUNNING with no runner has none (it is not one that just ended).
        with self._lock, self.store.session() as session:
            for task in unfinished(session):
                runner = self._running.get(task.guid)
                if runner is None and task.state != "PENDING":
                    finish(task, state="FAILED", reason=INTERRUPTED)
                    self.logs.append(task.app_guid, log_source(task), f"Failed: {INTERRUPTED}")
                elif runner is not None and task.state == "CANCELING":
                    runner[1].set()
                elif runner is None and not self._stopping:
                    self._start(task.guid)
        return Result()

    def _start(self, guid: str) -> None:
        stop = threading.Event()
        thread = threading.Thread(target=self._run, args=(guid, stop), name=f"task-{guid[:8]}")
        self._running[guid] = (thread, stop)
        thread.start()

    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def stop(self) -> None:
        """Stop every running task (the server is stopping) and wait a while for them."""
        with self._lock:
            self._stopping = True
            runners = list(self._running.values())
        for _, stop in runners:
            stop.set()
        deadline = time.monotonic() + STOP_WAIT
        for thread, _ in runners:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, guid: str, stop: threading.Event) -> None:
        try:
            self._execute(guid, stop)
        except Exception as exc:  # a bug must not leave the task RUNNING for ever
            log.exception("task %s", guid)
            with self.store.session() as session:
                task = session.get(Task, guid)
                if task is not None and task.state not in FINISHED:
                    finish(task, state="FAILED", reason=f"could not run the task: {exc}")
        finally:
            with self._lock:
                self._running.pop(guid, None)

    def _execute(self, guid: str, stop: threading.Event) -> None:
        """Run the task to its end."""
        with self.store.session() as session:
            task = session.get(Task, guid)
            if task is None or task.state != "PENDING":
                return
            app = session.get(App, task.app_guid)
            revision = session.get(Revision, task.revision_guid)
            droplet = session.get(Droplet, revision.droplet_guid) if revision else None
            if app is None or revision is None or droplet is None:
                finish(task, state="FAILED", reason="its revision's droplet is gone")
                return
            spec = self.spec(session, task=task, app=app, revision=revision, droplet=droplet)
            task.state = "RUNNING"
            task.started_at = time.time()
            source, sequence, app_guid = log_source(task), task.sequence_id, app.guid
        self.logs.append(
            app_guid, source, f"Starting task {sequence} on revision {revision.version}"
        )

        def output(line: str) -> None:
            self.logs.append(app_guid, source, line)

        status = self.runner.run_once(spec, output=output, timeout=TASK_TIMEOUT, stop=stop)
        with self.store.session() as session:
            task = session.get(Task, guid)
            app = session.get(App, app_guid)
            if task is None:
                return
            if status.code == 0:
                finish(task, state="SUCCEEDED", exit_code=0)
            elif stop.is_set():
                reason = INTERRUPTED if task.state != "CANCELING" else "terminated"
                finish(task, state="FAILED", reason=reason, exit_code=status.code)
            else:
                finish(task, state="FAILED", reason=status.reason, exit_code=status.code)
            said = "succeeded" if task.state == "SUCCEEDED" else f"failed: {task.failure_reason}"
            events.record(
                session,
                type=f"app.task.{task.state.lower()}",
                app=app,
                data={
                    "task": task.sequence_id,
                    "name": task.name,
                    "exit_code": task.exit_code,
                    "reason": task.failure_reason,
                },
            )
            # Before the state is stored: whoever sees the task ended finds its last line.
            self.logs.append(app_guid, source, f"Task {sequence} {said}")

    def spec(
        self, session: Any, *, task: Task, app: App, revision: Revision, droplet: Droplet
    ) -> InstanceSpec:
        """The task as the agent runs it: the revision's droplet and environment, the task's
        limits."""
        return oneoff_spec(
            session,
            settings=self.settings,
            blobs=self.blobs,
            app=app,
            revision=revision,
            droplet=droplet,
            command=task.command,
            key=f"task-{task.guid}",
            memory_mb=task.memory_mb,
            disk_mb=task.disk_mb,
        )


def oneoff_spec(
    session: Any,
    *,
    settings: Settings,
    blobs: BlobStore,
    app: App,
    revision: Revision,
    droplet: Droplet,
    command: str,
    key: str,
    memory_mb: int,
    disk_mb: int,
) -> InstanceSpec:
    """A one-off run of `command` on the revision's droplet, with the environment its
    instances get (its variables, its services' credentials, `YUN_REVISION`)."""
    space = session.get(Space, app.space_guid)
    org = session.get(Org, space.org_guid) if space else None
    image = image_spec(droplet.image, command) if droplet.image else None
    kind = key.split("-", 1)[0]
    return InstanceSpec(
        slot=f"{kind}:{key}",
        app_guid=app.guid,
        app_name=app.name,
        process_guid=key,
        process_type=kind,
        index=0,
        droplet=image.rootfs if image else blobs.path(droplet.blob),
        command=command,
        env=instance_env(revision),
        memory_mb=memory_mb,
        disk_mb=disk_mb,
        health=HealthCheckSpec(type="process"),
        space_name=space.name if space else "",
        org_name=org.name if org else "",
        image=image,
        stack_root=stack_root(settings, droplet),
        runtime=pinned_runtime(revision),
    )
