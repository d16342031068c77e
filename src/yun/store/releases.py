"""Revisions and how a new one reaches a running app: at once, or through a deployment.

Every change that needs new instances (a droplet, an env change applied by a restart, a new
command, memory or disk, a rollback) makes a Revision: the droplet, the environment, the
process types' commands and each process's command and limits as they are now. `release` then
hands it to the app: an app that is not running switches at once; a running one gets a
Deployment that the deployment controller rolls forward (see `controllers/deploying.py`). A
revision whose Procfile release command must run first waits in a RELEASING deployment
(`controllers/releasing.py`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yun.runtimes import DEFAULT_RUNTIME, RUNTIMES
from yun.store import events
from yun.store.models import App, Deployment, Droplet, Process, Revision, Space, TcpRoute
from yun.store.services import service_environment

STRATEGIES = ("rolling", "canary", "blue-green", "recreate")
ACTIVE = ("DEPLOYING", "PAUSED", "CANCELING", "FAILING")
"""Deployment states that still move instances; the others are final."""
DEFAULT_CANARY_STEPS = (10,)
RELEASE_TYPE = "release"  # the Procfile process type Heroku runs once per release
DEFAULT_BLUE_GREEN_KEEP = 60.0  # seconds the old side stands by after a blue-green switch


class ReleaseError(Exception):
    """A release that cannot happen now; the message is one line for the user."""


@dataclass(frozen=True)
class Plan:
    """How a revision reaches a running app (what `--strategy` and its options say)."""

    strategy: str = "rolling"
    max_in_flight: int = 1
    steps: tuple[int, ...] = DEFAULT_CANARY_STEPS
    keep_seconds: float = DEFAULT_BLUE_GREEN_KEEP

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """A plan as stored with a build; missing keys take the defaults."""
        return cls(
            strategy=str(data.get("strategy") or "rolling"),
            max_in_flight=int(data.get("max_in_flight") or 1),
            steps=tuple(int(s) for s in data.get("steps") or DEFAULT_CANARY_STEPS),
            keep_seconds=float(data.get("keep_seconds", DEFAULT_BLUE_GREEN_KEEP)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "max_in_flight": self.max_in_flight,
            "steps": list(self.steps),
            "keep_seconds": self.keep_seconds,
        }

    def check(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ReleaseError(f"strategy {self.strategy!r}: use one of {', '.join(STRATEGIES)}")
        if self.max_in_flight < 1:
            raise ReleaseError("max-in-flight must be at least 1")
        steps = list(self.steps)
        if not steps or any(not 0 < s < 100 for s in steps) or steps != sorted(set(steps)):
            raise ReleaseError("instance-steps must be rising percentages between 1 and 99")
        if self.keep_seconds < 0:
            raise ReleaseError("the blue-green keep time cannot be negative")


def runtime_of(session: Session, app: App) -> str:
    """The container runtime the app's instances are to run under: the stronger of what its
    space and its manifest (`runtime:`) ask for, runc when neither does. An app cannot leave
    the sandbox its space's managers chose."""
    space = session.get(Space, app.space_guid)
    asked = [str(app.spec.get("runtime") or ""), space.runtime if space is not None else ""]
    known = [name for name in asked if name in RUNTIMES]
    return max(known, key=RUNTIMES.index, default=DEFAULT_RUNTIME)


def with_runtime(processes: dict[str, Any], runtime: str) -> dict[str, Any]:
    """Process settings that pin `runtime` (absent for runc, so that older revisions, which
    never named one, compare equal)."""
    pinned: dict[str, Any] = {}
    for kind, settings in processes.items():
        own = {key: value for key, value in dict(settings).items() if key != "runtime"}
        if runtime != DEFAULT_RUNTIME:
            own["runtime"] = runtime
        pinned[kind] = own
    return pinned


def pinned_runtime(revision: Revision) -> str:
    """The runtime a revision's processes, release command and tasks run under."""
    for settings in (revision.processes or {}).values():
        if isinstance(settings, dict) and settings.get("runtime"):
            return str(settings["runtime"])
    return DEFAULT_RUNTIME


def process_settings(session: Session, app: App) -> dict[str, Any]:
    """What of each process a revision pins: its own command, its limits, the names of its
    TCP routes (the extra ports its instances listen on; only when it has some) and the
    runtime its instances run under (only when it is not runc)."""
    ports: dict[str, list[str]] = {}
    for route in session.scalars(
        select(TcpRoute).where(TcpRoute.app_guid == app.guid).order_by(TcpRoute.name)
    ):
        ports.setdefault(route.process_type, []).append(route.name)
    settings: dict[str, Any] = {}
    for p in session.scalars(select(Process).where(Process.app_guid == app.guid)):
        settings[p.type] = {"command": p.command, "memory_mb": p.memory_mb, "disk_mb": p.disk_mb}
        if p.type in ports:
            settings[p.type]["ports"] = ports[p.type]
    return with_runtime(settings, runtime_of(session, app))


def instance_env(revision: Revision) -> dict[str, str]:
    """What a revision's processes, release command and tasks find in their environment: its
    services' credentials, then its variables (an app that sets DATABASE_URL itself keeps its
    own), then `YUN_REVISION`."""
    env = {str(k): str(v) for k, v in (revision.services or {}).items()}
    env.update({str(k): str(v) for k, v in revision.env.items()})
    env["YUN_REVISION"] = str(revision.version)
    return env


def create_revision(
    session: Session,
    *,
    app: App,
    droplet_guid: str,
    commands: dict[str, Any],
    description: str,
    actor: str,
    processes: dict[str, Any] | None = None,
    env: dict[str, Any] | None = None,
) -> Revision:
    """The app's next revision (numbered after its last one); not yet released."""
    version = session.scalar(
        select(func.coalesce(func.max(Revision.version), 0)).where(Revision.app_guid == app.guid)
    )
    droplet = session.get(Droplet, droplet_guid)
    revision = Revision(
        app_guid=app.guid,
        version=int(version or 0) + 1,
        droplet_guid=droplet_guid,
        env=dict(app.env if env is None else env),
        commands=dict(commands),
        processes=process_settings(session, app) if processes is None else dict(processes),
        services=service_environment(session, app),
        description=description,
        created_by=actor,
        commit=droplet.commit if droplet is not None else "",
    )
    session.add(revision)
    session.flush()
    return revision


def next_revision(
    session: Session, *, app: App, actor: str, description: str, always: bool
) -> Revision | None:
    """A revision of the app as it is now (its current droplet, env and process settings);
    None when there is no droplet yet. Unless `always`, the current revision is returned when
    nothing differs from it."""
    current = session.get(Revision, app.revision_guid) if app.revision_guid else None
    droplet_guid = app.droplet_guid or (current.droplet_guid if current else None)
    droplet = session.get(Droplet, droplet_guid) if droplet_guid else None
    if droplet is None:
        return None
    commands = (
        dict(current.commands)
        if current is not None and current.droplet_guid == droplet.guid
        else dict(droplet.process_types)
    )
    settings = process_settings(session, app)
    if (
        not always
        and current is not None
        and current.droplet_guid == droplet.guid
        and current.env == app.env
        and current.processes == settings
        and current.services == service_environment(session, app)
    ):
        return current
    return create_revision(
        session,
        app=app,
        droplet_guid=droplet.guid,
        commands=commands,
        description=description,
        actor=actor,
        processes=settings,
    )


def rollback_revision(session: Session, *, app: App, version: int, actor: str) -> Revision:
    """A new revision that is revision `version` again: its droplet, env, commands and
    process settings (the app's env and processes follow, so `yun env` and `yun app` agree)."""
    old = session.scalar(
        select(Revision).where(Revision.app_guid == app.guid, Revision.version == version)
    )
    if old is None:
        raise ReleaseError(f"app {app.name} has no revision {version} (see `yun revisions`)")
    if session.get(Droplet, old.droplet_guid) is None:
        raise ReleaseError(f"revision {version} of {app.name} no longer has its droplet")
    app.env = dict(old.env)
    app.droplet_guid = old.droplet_guid
    for proc in session.scalars(select(Process).where(Process.app_guid == app.guid)):
        pinned = old.processes.get(proc.type) or {}
        for field in ("command", "memory_mb", "disk_mb"):
            if field in pinned:
                setattr(proc, field, pinned[field])
    return create_revision(
        session,
        app=app,
        droplet_guid=old.droplet_guid,
        commands=old.commands,
        description=f"rollback to revision {version}",
        actor=actor,
        # the runtime stays what the space or app asks for now: a rollback must not take an
        # untrusted app out of its sandbox
        processes=with_runtime(old.processes, runtime_of(session, app)),
        env=old.env,
    )


class Freed(NamedTuple):
    """What pruned droplets leave for the caller to delete once the session is committed."""

    blobs: list[str]  # blob digests no droplet refers to any more
    bundles: list[str]  # unpacked images (docker droplets' `image["bundle"]`)


def prune(session: Session, *, app: App, revisions: int, droplets: int) -> Freed:
    """Forget all but the app's newest `revisions` revisions, and delete the droplets that
    neither its newest `droplets` revisions, nor what runs or deploys, nor its next restart
    need. Returns their files: blobs and unpacked images (the caller deletes them)."""
    deployment = active_deployment(session, app.guid)
    needed = {app.revision_guid}
    if deployment is not None:
        needed |= {deployment.from_revision_guid, deployment.revision_guid}
    ordered = list(
        session.scalars(
            select(Revision).where(Revision.app_guid == app.guid).order_by(Revision.version.desc())
        )
    )
    for old in ordered[revisions:]:
        if old.guid not in needed:
            session.delete(old)
    keep: set[str | None] = {r.droplet_guid for r in ordered[:droplets]}
    keep |= {r.droplet_guid for r in ordered if r.guid in needed}
    keep.add(app.droplet_guid)
    freed: list[str] = []
    bundles: list[str] = []
    for droplet in session.scalars(select(Droplet).where(Droplet.app_guid == app.guid)):
        if droplet.guid not in keep:
            session.delete(droplet)
            if droplet.blob:
                freed.append(droplet.blob)
            if droplet.image and droplet.image.get("bundle"):
                bundles.append(str(droplet.image["bundle"]))
    session.flush()
    still_used = set(session.scalars(select(Droplet.blob).where(Droplet.blob.in_(freed))))
    return Freed([blob for blob in freed if blob not in still_used], bundles)


def active_deployment(session: Session, app_guid: str) -> Deployment | None:
    return session.scalar(
        select(Deployment)
        .where(Deployment.app_guid == app_guid, Deployment.state.in_(ACTIVE))
        .order_by(Deployment.created_at.desc())
    )


def release(
    session: Session,
    *,
    app: App,
    revision: Revision,
    actor: str,
    plan: Plan | None = None,
    release_command: bool = False,
) -> Deployment | None:
    """Make `revision` the app's: a Deployment (rolling, canary or blue-green) when the app
    runs another revision, else at once (returns None). A deployment still under way is
    superseded.

    With `release_command`, a revision that brings a new droplet, environment or services and
    has a Procfile `release:` command gets a RELEASING deployment instead: the deployment
    controller runs the command first and rolls the revision out (`roll_out`) only if it
    succeeds, while whatever runs now keeps running (RELEASING is not ACTIVE). Builds run
    their release command themselves and do not ask for this."""
    plan = plan or Plan()
    plan.check()
    if release_command and needs_release_command(session, app=app, revision=revision):
        return _releasing(session, app=app, revision=revision, actor=actor, plan=plan)
    return roll_out(session, app=app, revision=revision, actor=actor, plan=plan)


def needs_release_command(session: Session, *, app: App, revision: Revision) -> bool:
    """Whether `revision` has a release command and differs from the app's current revision
    in what the command may depend on (Heroku runs it for new code, config and rollbacks, not
    for restarts or scaling)."""
    if not str(revision.commands.get(RELEASE_TYPE) or "").strip():
        return False
    current = session.get(Revision, app.revision_guid) if app.revision_guid else None
    return current is None or any(
        getattr(current, field) != getattr(revision, field)
        for field in ("droplet_guid", "env", "services")
    )


def _releasing(
    session: Session, *, app: App, revision: Revision, actor: str, plan: Plan
) -> Deployment:
    for waiting in releasing(session, app.guid):
        note(waiting, f"superseded by revision {revision.version}")
        waiting.state = "SUPERSEDED"
    deployment = Deployment(
        app_guid=app.guid,
        strategy=plan.strategy,
        state="RELEASING",
        from_revision_guid=app.revision_guid,
        revision_guid=revision.guid,
        max_in_flight=plan.max_in_flight,
        steps=list(plan.steps) if plan.strategy == "canary" else [],
        keep_seconds=plan.keep_seconds if plan.strategy == "blue-green" else 0.0,
        progress={},
        created_by=actor,
    )
    command = str(revision.commands[RELEASE_TYPE]).strip()
    note(deployment, f"revision {revision.version}: running its release command: {command}")
    _add(session, deployment, app=app, revision=revision, strategy="release")
    return deployment


def _add(
    session: Session, deployment: Deployment, *, app: App, revision: Revision, strategy: str
) -> None:
    session.add(deployment)
    session.flush()
    events.record(
        session,
        type="audit.app.deployment.create",
        app=app,
        actor=deployment.created_by,
        data={"deployment": deployment.guid, "revision": revision.version, "strategy": strategy},
    )


def releasing(session: Session, app_guid: str | None = None) -> list[Deployment]:
    """Deployments waiting for their revision's release command (of one app, or all)."""
    query = select(Deployment).where(Deployment.state == "RELEASING")
    if app_guid is not None:
        query = query.where(Deployment.app_guid == app_guid)
    return list(session.scalars(query.order_by(Deployment.created_at)))


def plan_of(deployment: Deployment) -> Plan:
    """The plan a deployment was made with."""
    return Plan(
        strategy=deployment.strategy,
        max_in_flight=deployment.max_in_flight,
        steps=tuple(deployment.steps) or DEFAULT_CANARY_STEPS,
        keep_seconds=deployment.keep_seconds or DEFAULT_BLUE_GREEN_KEEP,
    )


def roll_out(
    session: Session,
    *,
    app: App,
    revision: Revision,
    actor: str,
    plan: Plan,
    deployment: Deployment | None = None,
) -> Deployment | None:
    """`release` without a release command: a DEPLOYING deployment (`deployment`, when one
    waited for its release command, else a new one), or the revision at once."""
    strategy, max_in_flight, keep_seconds = plan.strategy, plan.max_in_flight, plan.keep_seconds
    canary_steps = list(plan.steps) if strategy == "canary" else []
    running = app.state == "STARTED" and app.revision_guid is not None
    for waiting in releasing(session, app.guid):
        if waiting is not deployment:
            note(waiting, f"superseded by revision {revision.version}")
            waiting.state = "SUPERSEDED"
    current = active_deployment(session, app.guid)
    if current is not None:
        note(current, f"superseded by revision {revision.version}")
        current.state = "SUPERSEDED"
    if not running or strategy == "recreate" or app.revision_guid == revision.guid:
        app.revision_guid = revision.guid
        app.state = "STARTED"
        if deployment is not None:
            deployment.state = "DEPLOYED"
            note(deployment, f"deployed: revision {revision.version} serves")
        return deployment
    procs = session.scalars(select(Process).where(Process.app_guid == app.guid))
    progress = {
        p.type: {"old": _still_wanted(current, p, app.revision_guid), "new": 0}
        for p in procs
        if p.instances > 0
    }
    created = deployment is None
    if deployment is None:
        deployment = Deployment(app_guid=app.guid, created_by=actor)
    deployment.strategy = strategy
    deployment.state = "DEPLOYING"
    deployment.from_revision_guid = app.revision_guid
    deployment.revision_guid = revision.guid
    deployment.max_in_flight = max_in_flight
    deployment.progress = progress
    deployment.steps = canary_steps
    deployment.step = 0
    # Blue-green: the new side takes no traffic until all of it runs; canary: none until its
    # first instances run (the controller then sets the step's share).
    deployment.weight = 0 if strategy in ("canary", "blue-green") else None
    deployment.keep_seconds = keep_seconds if strategy == "blue-green" else 0.0
    how = {
        "rolling": f"{max_in_flight} at a time",
        "canary": "traffic steps " + ", ".join(f"{s}%" for s in canary_steps),
        "blue-green": f"switching at once, old side kept {keep_seconds:g} s",
    }
    note(deployment, f"{strategy} deployment of revision {revision.version}: {how[strategy]}")
    if created:
        _add(session, deployment, app=app, revision=revision, strategy=strategy)
    return deployment


def _still_wanted(superseded: Deployment | None, proc: Process, current: str | None) -> int:
    """Instances of the app's current revision the new deployment starts from: all of them, or
    as many as a superseded deployment still kept of it (its old side, or, when it was turned
    around, its new side)."""
    if superseded is None or proc.type not in superseded.progress:
        return proc.instances
    side = "old" if superseded.from_revision_guid == current else "new"
    return int(superseded.progress[proc.type].get(side, proc.instances))


def note(deployment: Deployment, text: str) -> None:
    """One line of the deployment's history (what `yun deployments` shows)."""
    deployment.history = [*(deployment.history or []), [time.time(), text]]


def cancel(session: Session, *, app: App, actor: str) -> Deployment:
    """Roll an active deployment back the way it came: the old revision's instances come back
    before the new ones go, so cancelling is as free of downtime as deploying."""
    waiting = releasing(session, app.guid)
    deployment = active_deployment(session, app.guid)
    if waiting:  # its release command's outcome will not matter: nothing changed yet
        deployment = waiting[-1]
        deployment.state = "CANCELED"
        deployment.reason = f"cancelled by {actor}"
        note(deployment, deployment.reason)
    elif deployment is None or deployment.state not in ("DEPLOYING", "PAUSED"):
        raise ReleaseError(f"app {app.name} has no deployment under way to cancel")
    else:
        flip(deployment, state="CANCELING", reason=f"cancelled by {actor}")
    events.record(
        session,
        type="audit.app.deployment.cancel",
        app=app,
        actor=actor,
        data={"deployment": deployment.guid},
    )
    return deployment


def resume(session: Session, *, app: App, actor: str) -> Deployment:
    """Move a paused canary to its next traffic step, or past the last one to the end."""
    deployment = active_deployment(session, app.guid)
    if deployment is None or deployment.state != "PAUSED":
        raise ReleaseError(f"app {app.name} has no paused deployment to continue")
    deployment.step += 1
    deployment.state = "DEPLOYING"
    left = deployment.steps[deployment.step :]
    note(deployment, f"continued by {actor}" + (f": next {left[0]}%" if left else ": to 100%"))
    events.record(
        session,
        type="audit.app.deployment.continue",
        app=app,
        actor=actor,
        data={"deployment": deployment.guid, "step": deployment.step},
    )
    return deployment


def flip(deployment: Deployment, *, state: str, reason: str) -> None:
    """Turn a deployment around: its old side becomes the side it rolls to. Where traffic was
    split by weight, all of it goes back to the old side at once."""
    assert deployment.from_revision_guid is not None
    deployment.from_revision_guid, deployment.revision_guid = (
        deployment.revision_guid,
        deployment.from_revision_guid,
    )
    deployment.progress = {
        kind: {"old": int(sides.get("new", 0)), "new": int(sides.get("old", 0))}
        for kind, sides in deployment.progress.items()
    }
    deployment.state = state
    deployment.reason = reason
    if deployment.weight is not None:
        deployment.weight = 100
    deployment.steps, deployment.step = [], 0
    deployment.keep_until, deployment.keep_seconds = None, 0.0
    note(deployment, reason)
