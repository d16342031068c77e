"""The deployment controller: moves an app from one revision to the next without downtime.

A deployment keeps, per process type, how many instances of the old and of the new revision
are wanted (`Deployment.progress`); the instance controller runs exactly those, and the route
controller sends traffic to every healthy one that is not draining. Each pass here looks at
what actually runs and moves the counts one step (`roll`): start up to `max_in_flight` new
instances, and for every new instance the router already sends traffic to, let one old
instance go (it drains first: see the instance controller). Capacity never drops below the
process's instance count.

A canary starts enough new instances for its first traffic step (`steps`, percent), has the
router send exactly that share of requests to them (server weights), and pauses until
`continue-deployment`; past its last step it finishes like a rolling one. Blue-green brings up
a full new set that takes no traffic, switches all traffic at once, keeps the old set standing
by for `keep_seconds`, then lets it go.

A new instance that crashes, a canary whose 5xx share is worse than the old side's by more than
`error_margin`, or a user's cancel turns the deployment around (`releases.flip`): traffic goes
back to the old side and the old revision's instances come back before the new ones go. A
finished deployment makes its revision the app's current one. A deployment that waits for its
revision's release command (RELEASING) is `releasing.ReleaseCommands`' until it starts moving.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from yun.controllers.releasing import ReleaseCommands
from yun.controllers.runtime.managing import Result
from yun.store import events
from yun.store.models import App, Deployment, Instance, Process, Revision
from yun.store.releases import ACTIVE, flip, note
from yun.store.session import Store

FINAL_STATE = {
    "DEPLOYING": "DEPLOYED",
    "PAUSED": "DEPLOYED",
    "CANCELING": "CANCELED",
    "FAILING": "FAILED",
}
POLL = 0.5  # seconds between passes while a deployment is under way
CANARY_ERROR_MARGIN = 0.05  # a canary fails when its 5xx share is this much above the old side's
CANARY_MIN_RESPONSES = 20  # …judged only once it has answered this many


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


ResponseCounts = dict[str, tuple[int, int]]
"""Per router server name: (responses, of which 5xx), since the router's last reload."""


def _no_counts() -> ResponseCounts:
    return {}


class DeploymentController:
    prefix = "deployments"

    def __init__(
        self,
        *,
        store: Store,
        wake: Callable[[str], None],
        responses: Callable[[], ResponseCounts] = _no_counts,
        error_margin: float = CANARY_ERROR_MARGIN,
        clock: Callable[[], float] = time.time,
        release_commands: ReleaseCommands | None = None,
    ) -> None:
        self.release_commands = release_commands  # runs what RELEASING deployments wait for
        self.store = store
        self.wake = wake
        self.responses = responses
        self.error_margin = error_margin
        self.clock = clock

    def reconcile(self, key: str) -> Result:
        if self.release_commands is not None:
            self.release_commands.start_waiting()
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
        if deployment.state in ("DEPLOYING", "PAUSED"):
            failure = self._crashed(session, app, new_rev.version) or self._erring(
                session, app, deployment, old_rev.version, new_rev.version
            )
            if failure:
                flip(deployment, state="FAILING", reason=f"revision {new_rev.version}: {failure}")
                events.record(
                    session,
                    type="app.deployment.failed",
                    app=app,
                    data={"deployment": deployment.guid, "reason": deployment.reason},
                )
                return True
        phase = _phase(deployment)
        progress: dict[str, Any] = {}
        finished = all_ready = True
        for kind, sides in deployment.progress.items():
            proc = session.scalar(
                select(Process).where(Process.app_guid == app.guid, Process.type == kind)
            )
            if proc is None:
                continue
            now = self._sides(session, proc, sides, old_rev.version, new_rev.version)
            old, new, done, ready = self._plan(deployment, phase, now)
            progress[kind] = {"old": old, "new": new}
            finished &= done
            all_ready &= ready
            if phase == "rolling" and (old, new) != (now.old, now.new):
                note(deployment, f"{kind}: {now.ready_new}/{proc.instances} new serving")
        changed = progress != deployment.progress
        deployment.progress = progress
        if finished:
            self._finish(session, deployment, app, new_rev)
            return True
        return self._advance(deployment, phase, all_ready, new_rev.version) or changed

    def _plan(self, deployment: Deployment, phase: str, now: Sides) -> tuple[int, int, bool, bool]:
        """(old, new, done, ready) for one process in the deployment's phase."""
        if phase == "canary":
            share = int(deployment.steps[deployment.step])
            target = max(1, math.ceil(now.wanted * share / 100))
            return now.wanted, target, False, now.ready_new >= target
        if phase == "blue-green":
            switched = deployment.keep_until is not None
            if switched and self.clock() >= float(deployment.keep_until or 0):
                return 0, now.wanted, now.old_left == 0, True  # the stand-by goes
            return now.wanted, now.wanted, False, now.ready_new >= now.wanted
        old, new, done = roll(now, max_in_flight=deployment.max_in_flight)
        return old, new, done, done

    def _advance(self, deployment: Deployment, phase: str, ready: bool, version: int) -> bool:
        """Deployment-wide moves once every process is ready: a canary pauses at its share of
        traffic; a blue-green deployment switches all traffic over at once."""
        if not ready:
            return False
        if phase == "canary" and deployment.state == "DEPLOYING":
            share = int(deployment.steps[deployment.step])
            deployment.weight = share
            deployment.state = "PAUSED"
            note(
                deployment,
                f"canary: {share}% of requests go to revision {version}; paused"
                " (yun continue-deployment, or cancel-deployment)",
            )
            return True
        if phase == "blue-green" and deployment.keep_until is None:
            deployment.weight = 100
            deployment.keep_until = self.clock() + deployment.keep_seconds
            note(
                deployment,
                f"switched all requests to revision {version}; the old instances stand by"
                f" for {deployment.keep_seconds:g} s (cancel-deployment switches back)",
            )
            return True
        return False

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

    def _erring(
        self, session: Any, app: App, deployment: Deployment, old_version: int, new_version: int
    ) -> str:
        """Why the new side answers worse than the old one while both take traffic, or ""."""
        if not deployment.weight or deployment.weight >= 100:
            return ""
        proc = session.scalar(
            select(Process).where(Process.app_guid == app.guid, Process.type == "web")
        )
        if proc is None:
            return ""
        totals = {old_version: [0, 0], new_version: [0, 0]}
        prefix = f"{proc.guid[:8]}-"
        for name, (answered, errors) in self.responses().items():
            parts = name.split("-")
            if not name.startswith(prefix) or len(parts) != 3 or not parts[1].isdigit():
                continue
            if int(parts[1]) in totals:
                totals[int(parts[1])][0] += answered
                totals[int(parts[1])][1] += errors
        (old_n, old_e), (new_n, new_e) = totals[old_version], totals[new_version]
        if new_n < CANARY_MIN_RESPONSES:
            return ""
        old_rate = old_e / old_n if old_n else 0.0
        new_rate = new_e / new_n
        if new_rate > old_rate + self.error_margin:
            return (
                f"{new_rate:.0%} of its responses were 5xx against {old_rate:.0%}"
                f" of the old revision's ({new_n} and {old_n} responses)"
            )
        return ""

    def _finish(self, session: Any, deployment: Deployment, app: App, revision: Revision) -> None:
        deployment.state = FINAL_STATE[deployment.state]
        deployment.weight = None
        app.revision_guid = revision.guid
        note(deployment, f"{deployment.state.lower()}: revision {revision.version} serves")
        events.record(
            session,
            type=f"audit.app.deployment.{deployment.state.lower()}",
            app=app,
            actor=deployment.created_by,
            data={"deployment": deployment.guid, "revision": revision.version},
        )


def _phase(deployment: Deployment) -> str:
    """canary (at a traffic step), blue-green (before the old side goes), or rolling: also how
    every deployment ends, a canary past its last step, or one turned around."""
    if deployment.state not in ("DEPLOYING", "PAUSED"):
        return "rolling"
    if deployment.strategy == "canary" and deployment.step < len(deployment.steps):
        return "canary"
    if deployment.strategy == "blue-green":
        return "blue-green"
    return "rolling"
