"""The deployment controller: rolls an app from one revision to the next without downtime.

A deployment keeps, per process type, how many instances of the old and of the new revision
are wanted (`Deployment.progress`); the instance controller runs exactly those, and the route
controller sends traffic to every healthy one that is not draining. Each pass here looks at
what actually runs and moves the counts one step (`roll`): start up to `max_in_flight` new
instances, and for every new instance the router already sends traffic to, let one old
instance go (it drains first: see the instance controller). Capacity never drops below the
process's instance count.

A new instance that crashes fails the deployment; a user may cancel it. Both turn it around
(`releases.flip`): the old revision's instances come back before the new ones go. A finished
deployment makes its revision the app's current one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from yun.controllers.runtime.managing import Result
from yun.store import events
from yun.store.models import App, Deployment, Instance, Process, Revision
from yun.store.releases import ACTIVE, flip, note
from yun.store.session import Store

FINAL_STATE = {"DEPLOYING": "DEPLOYED", "CANCELING": "CANCELED", "FAILING": "FAILED"}
POLL = 0.5  # seconds between passes while a deployment is under way


@dataclass(frozen=True)
class Sides:
    """What runs of one process right now, as far as the deployment cares."""

    wanted: int  # the process's instance count
    old: int  # old instances asked for
    new: int  # new instances asked for
    ready_new: int  # new instances the router sends traffic to
    old_left: int  # old instances not yet stopped (including draining ones)


def roll(sides: Sides, *, max_in_flight: int) -> tuple[int, int, bool]:
    """One step: (old, new, done). Old instances go one per new instance that serves; the
    next batch of new ones starts when the last batch serves."""
    old = max(0, sides.wanted - sides.ready_new)
    new = sides.new
    if sides.ready_new >= new and new < sides.wanted:
        new = min(sides.wanted, new + max_in_flight)
    done = sides.ready_new >= sides.wanted and old == 0 and sides.old_left == 0
    return old, new, done


class DeploymentController:
    prefix = "deployments"

    def __init__(self, *, store: Store, wake: Callable[[str], None]) -> None:
        self.store = store
        self.wake = wake

    def reconcile(self, key: str) -> Result:
        moved = False
        with self.store.session() as session:
            active = list(session.scalars(select(Deployment).where(Deployment.state.in_(ACTIVE))))
            for deployment in active:
                moved |= self._step(session, deployment)
        if moved:
            self.wake("instances")
            self.wake("routes")
        return Result(requeue_after=POLL) if active else Result()

    def _step(self, session: Any, deployment: Deployment) -> bool:
        app = session.get(App, deployment.app_guid)
        old_rev = session.get(Revision, deployment.from_revision_guid or "")
        new_rev = session.get(Revision, deployment.revision_guid)
        if app is None or old_rev is None or new_rev is None:
            deployment.state = "FAILED"
            deployment.reason = "the app or one of its revisions is gone"
            return True
        if app.state != "STARTED":
            deployment.state = "CANCELED"
            note(deployment, "the app was stopped")
            return True
        crashed = self._crashed(session, app, new_rev.version)
        if crashed and deployment.state == "DEPLOYING":
            flip(deployment, state="FAILING", reason=f"revision {new_rev.version}: {crashed}")
            events.record(
                session,
                type="app.deployment.failed",
                app=app,
                data={"deployment": deployment.guid, "reason": deployment.reason},
            )
            return True
        progress: dict[str, Any] = {}
        finished = True
        for kind, sides in deployment.progress.items():
            proc = session.scalar(
                select(Process).where(Process.app_guid == app.guid, Process.type == kind)
            )
            if proc is None:
                continue
            now = self._sides(session, proc, sides, old_rev.version, new_rev.version)
            old, new, done = roll(now, max_in_flight=deployment.max_in_flight)
            progress[kind] = {"old": old, "new": new}
            finished &= done
            if (old, new) != (now.old, now.new):
                note(deployment, f"{kind}: {now.ready_new}/{proc.instances} new serving")
        changed = progress != deployment.progress
        deployment.progress = progress
        if finished:
            self._finish(session, deployment, app, new_rev)
            return True
        return changed

    def _sides(
        self, session: Any, proc: Process, sides: dict[str, Any], old_version: int, new_version: int
    ) -> Sides:
        rows = list(session.scalars(select(Instance).where(Instance.process_guid == proc.guid)))
        new = int(sides.get("new", 0))
        ready = sum(
            1
            for i in rows
            if i.version == new_version
            and i.index < new
            and i.state == "RUNNING"
            and i.draining_since is None
            and (i.routed or proc.type != "web")
        )
        old_left = sum(1 for i in rows if i.version == old_version and i.state != "DOWN")
        return Sides(
            wanted=proc.instances,
            old=int(sides.get("old", 0)),
            new=new,
            ready_new=ready,
            old_left=old_left,
        )

    def _crashed(self, session: Any, app: App, version: int) -> str:
        """Why an instance of `version` crashed, or "" when none did."""
        row = session.scalar(
            select(Instance).where(
                Instance.app_guid == app.guid,
                Instance.version == version,
                Instance.state == "CRASHED",
            )
        )
        return "" if row is None else f"instance {row.index} crashed ({row.reason or 'exited'})"

    def _finish(self, session: Any, deployment: Deployment, app: App, revision: Revision) -> None:
        deployment.state = FINAL_STATE[deployment.state]
        app.revision_guid = revision.guid
        note(deployment, f"{deployment.state.lower()}: revision {revision.version} serves")
        events.record(
            session,
            type=f"audit.app.deployment.{deployment.state.lower()}",
            app=app,
            actor=deployment.created_by,
            data={"deployment": deployment.guid, "revision": revision.version},
        )
