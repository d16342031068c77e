"""Runs promotions (`yun promote APP --from dev --to staging [--test]`), each in a thread of its
own, outside the reconcile workers (a test suite may run for minutes).

With `--test`, the app's `test` command (a Procfile `test:` line, or a `test` process in its
manifest) first runs once on the droplet being promoted, as a one-off like a task, with the
source revision's environment and the web process's limits; its output is kept on the
promotion (and in the source app's log as `STG/test` lines). A non-zero exit fails the
promotion and nothing changes in the target space. Then `store.promotions.promote` gives the
target app the same droplet as a new revision and releases it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import select

from yun.blobstore import BlobStore
from yun.controllers.runtime.managing import Result
from yun.controllers.tasks import OneOffRunner, oneoff_spec
from yun.logstore import LogStore
from yun.settings import Settings
from yun.store.models import Process, Promotion
from yun.store.promotions import SHOWN_LINES, PromotionError, promote, source_of, test_command
from yun.store.quotas import QuotaExceeded
from yun.store.session import Store

TEST_TIMEOUT = 3600.0  # seconds a test suite may run
LOG_SOURCE = "STG/test"
log = logging.getLogger(__name__)


class PromotionController:
    prefix = "promotions"

    def __init__(
        self,
        *,
        store: Store,
        blobs: BlobStore,
        logs: LogStore,
        settings: Settings,
        runner: OneOffRunner,
        wake: Callable[[str], None],
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.logs = logs
        self.settings = settings
        self.runner = runner
        self.wake = wake
        self._lock = threading.Lock()
        self._running: set[str] = set()

    def reconcile(self, key: str) -> Result:
        with self._lock, self.store.session() as session:
            for promotion in session.scalars(
                select(Promotion).where(Promotion.state.in_(("PENDING", "TESTING")))
            ):
                if promotion.guid in self._running:
                    continue
                if promotion.state == "TESTING":  # a server stopped while it tested
                    promotion.state, promotion.reason = "FAILED", "the server stopped meanwhile"
                    continue
                self._running.add(promotion.guid)
                threading.Thread(
                    target=self._run, args=(promotion.guid,), name=f"promote-{promotion.guid[:8]}"
                ).start()
        return Result()

    def _run(self, guid: str) -> None:
        try:
            failure = self._test(guid)
            if failure is None:
                try:
                    with self.store.session() as session:
                        promotion = session.get(Promotion, guid)
                        if promotion is None:
                            return
                        made = promote(session, promotion)
                        promotion.state, promotion.target_revision_guid = "PROMOTED", made.guid
                except (PromotionError, QuotaExceeded) as exc:  # nothing of it was kept
                    failure = str(exc)
            if failure is not None:
                with self.store.session() as session:
                    promotion = session.get(Promotion, guid)
                    if promotion is not None:
                        promotion.state, promotion.reason = "FAILED", failure
        except Exception as exc:  # a bug must not leave it PENDING for ever
            log.exception("promotion %s", guid)
            with self.store.session() as session:
                promotion = session.get(Promotion, guid)
                if promotion is not None and promotion.state in ("PENDING", "TESTING"):
                    promotion.state, promotion.reason = "FAILED", f"could not promote: {exc}"
        finally:
            with self._lock:
                self._running.discard(guid)
            for key in ("deployments", "instances", "routes"):
                self.wake(key)

    def _test(self, guid: str) -> str | None:
        """Run the test command if the promotion asks for it; None when it passed (or none
        was asked for), else why not."""
        with self.store.session() as session:
            promotion = session.get(Promotion, guid)
            if promotion is None or not promotion.test:
                return None
            try:
                app, revision, droplet = source_of(session, promotion)
            except PromotionError as exc:
                return str(exc)
            command = test_command(session, app=app, droplet=droplet)
            if not command:
                return (
                    f"app {app.name} has no test command (a Procfile `test:` line, or a test"
                    " process in its manifest)"
                )
            web = session.scalar(
                select(Process).where(Process.app_guid == app.guid, Process.type == "web")
            )
            spec = oneoff_spec(
                session,
                settings=self.settings,
                blobs=self.blobs,
                app=app,
                revision=revision,
                droplet=droplet,
                command=command,
                key=f"test-{guid}",
                memory_mb=web.memory_mb if web else 256,
                disk_mb=web.disk_mb if web else 1024,
            )
            promotion.state = "TESTING"
            app_guid = app.guid
        said: list[str] = [f"Running test command: {command}"]

        def output(line: str) -> None:
            said.append(line)
            self.logs.append(app_guid, LOG_SOURCE, line)

        status = self.runner.run_once(spec, output=output, timeout=TEST_TIMEOUT)
        with self.store.session() as session:
            promotion = session.get(Promotion, guid)
            if promotion is not None:
                promotion.output = said[-SHOWN_LINES:]
        if status.code == 0:
            return None
        return f"the test command failed ({status.reason}); nothing was promoted"
