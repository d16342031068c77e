"""Promotion: the droplet an app runs in one space becomes the next revision of the app of the
same name in another space, without a rebuild (the same blob, so the same digest), with that
space's environment, services and routes, as a pipeline moves a build from dev through staging
to production (DaoCloud's and Stackato's pipelines, Heroku's `pipelines:promote`).

The target app keeps its own variables, bindings and routes; its processes and limits stay
what they are (a new one gets the source's). A target app that was stopped is started.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.store import events
from yun.store.models import App, Droplet, Process, Promotion, Revision, Space
from yun.store.quotas import QuotaGuard
from yun.store.releases import create_revision, release

RELEASE = "release"
TEST = "test"
SHOWN_LINES = 200  # of a test's output, kept on the promotion


class PromotionError(Exception):
    """The promotion cannot go on; the message says why, in one line."""


def test_command(session: Session, *, app: App, droplet: Droplet) -> str:
    """The app's `test` command: its Procfile's `test:` line, or a `test` process of its
    manifest; "" when it has none."""
    command = str(droplet.process_types.get(TEST) or "").strip()
    if command:
        return command
    for process in (app.spec or {}).get("processes") or []:
        if isinstance(process, dict) and process.get("type") == TEST:
            return str(process.get("command") or "").strip()
    return ""


def source_of(session: Session, promotion: Promotion) -> tuple[App, Revision, Droplet]:
    app = session.get(App, promotion.app_guid)
    revision = session.get(Revision, promotion.revision_guid)
    droplet = session.get(Droplet, revision.droplet_guid) if revision else None
    if app is None or revision is None or droplet is None:
        raise PromotionError("the source app, its revision or its droplet is gone")
    return app, revision, droplet


def target_of(session: Session, promotion: Promotion, name: str) -> App:
    target = session.scalar(
        select(App).where(App.space_guid == promotion.to_space_guid, App.name == name)
    )
    if target is None:
        raise PromotionError(f"the app {name} of the target space is gone")
    return target


def promote(session: Session, promotion: Promotion) -> Revision:
    """Give the target app the source's droplet as a new revision and release it."""
    app, revision, droplet = source_of(session, promotion)
    target = target_of(session, promotion, app.name)
    from_space = session.get(Space, app.space_guid)
    copy = Droplet(
        app_guid=target.guid,
        build_guid=droplet.build_guid,
        blob=droplet.blob,
        process_types=dict(droplet.process_types),
        buildpacks=list(droplet.buildpacks),
        detected=droplet.detected,
        image=dict(droplet.image),
        stack=droplet.stack,
        commit=droplet.commit,
    )
    session.add(copy)
    session.flush()
    _ensure_processes(session, target, app, copy.process_types)
    quotas = QuotaGuard(session, target.space_guid)
    target.droplet_guid = copy.guid
    made = create_revision(
        session,
        app=target,
        droplet_guid=copy.guid,
        commands=dict(copy.process_types),
        description=f"promoted from {from_space.name if from_space else '?'} revision"
        f" {revision.version}",
        actor=promotion.created_by,
    )
    target.state = "STARTED"
    quotas.check(starting=target.guid)
    release(session, app=target, revision=made, actor=promotion.created_by, release_command=True)
    events.record(
        session,
        type="audit.app.promote",
        app=target,
        actor=promotion.created_by,
        data={"from_app": app.guid, "from_revision": revision.version, "blob": droplet.blob},
    )
    return made


def _ensure_processes(session: Session, target: App, source: App, types: dict[str, Any]) -> None:
    """Process rows for the droplet's process types the target lacks, sized as the source's."""
    have = {p.type for p in session.scalars(select(Process).where(Process.app_guid == target.guid))}
    theirs = {
        p.type: p for p in session.scalars(select(Process).where(Process.app_guid == source.guid))
    }
    for kind in types:
        if kind in have or kind in (RELEASE, TEST):
            continue
        model = theirs.get(kind)
        session.add(
            Process(
                app_guid=target.guid,
                type=kind,
                instances=model.instances if model else (1 if kind == "web" else 0),
                memory_mb=model.memory_mb if model else 256,
                disk_mb=model.disk_mb if model else 1024,
                health_check_type=model.health_check_type if model else "port",
                health_check_endpoint=model.health_check_endpoint if model else "/",
                command=model.command if model else None,
            )
        )
    session.flush()
