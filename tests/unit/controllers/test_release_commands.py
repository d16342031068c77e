"""Heroku's release phase for releases without a build: a restart that brings a new environment
and a rollback run the Procfile `release:` command first, while the old revision keeps serving;
a failing command fails the deployment and nothing new takes traffic; a restart that changes
nothing does not run it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.controllers.deployment_world import World

from yun.agent import ExitStatus, InstanceSpec
from yun.blobstore import BlobStore
from yun.controllers.releasing import ReleaseCommands, ReleasePhase
from yun.logstore import LogStore
from yun.settings import Settings
from yun.store.models import App, Droplet, Revision
from yun.store.releases import cancel, create_revision, release, rollback_revision

COMMANDS = {"web": "run", "release": "python manage.py migrate"}


class FakeRunner:
    """Runs the release command as a test says: its exit code, what it prints, when it ends."""

    def __init__(self) -> None:
        self.code = 0
        self.ran: list[InstanceSpec] = []
        self.go = threading.Event()
        self.go.set()

    def run_once(self, spec: InstanceSpec, *, output: Any, timeout: float) -> ExitStatus:
        self.ran.append(spec)
        output("Operations to perform: apply all migrations")
        self.go.wait(10)
        if self.code:
            output("django.db.utils.OperationalError: no such table: users")
        return ExitStatus(code=self.code, reason=f"exited with {self.code}")


@pytest.fixture
def runner() -> FakeRunner:
    return FakeRunner()


@pytest.fixture
def world(tmp_path: Path, runner: FakeRunner) -> Iterator[World]:
    made = World(tmp_path)
    settings = Settings(home=tmp_path)
    blobs = BlobStore(tmp_path / "blobs")
    made.logs = LogStore(tmp_path / "app-logs")  # type: ignore[attr-defined]
    made.deployments.release_commands = ReleaseCommands(
        store=made.store,
        logs=made.logs,  # type: ignore[attr-defined]
        phase=ReleasePhase(settings=settings, blobs=blobs, runner=runner),
        wake=lambda key: None,
    )
    try:
        made.push(instances=2)
        with made.store.session() as session:  # v1 came with a release command
            revision = session.get(Revision, _app(session, made).revision_guid)
            assert revision is not None
            revision.commands = dict(COMMANDS)
        yield made
    finally:
        made.close()


def _app(session: Any, world: World) -> App:
    app = session.get(App, world.app_guid)
    assert app is not None
    return app


def restart_with(world: World, **env: str) -> str:
    """`yun set-env` then `yun restart`: a revision of the same droplet with the new env."""
    with world.store.session() as session:
        app = _app(session, world)
        app.env = {**app.env, **env}
        current = session.get(Revision, app.revision_guid)
        assert current is not None
        revision = create_revision(
            session,
            app=app,
            droplet_guid=current.droplet_guid,
            commands=dict(COMMANDS),
            description="restart",
            actor="test",
        )
        deployment = release(
            session, app=app, revision=revision, actor="test", release_command=True
        )
        return deployment.state if deployment else "AT ONCE"


def settle(world: World, *, until: tuple[str, ...], limit: int = 40) -> dict[str, Any]:
    """Tick (the release command runs in a thread of its own) until the deployment's state is
    one of `until`."""
    for _ in range(limit):
        world.tick()
        found = world.deployment()
        if found["state"] in until:
            return found
        time.sleep(0.05)
    raise AssertionError(f"deployment stayed {world.deployment()['state']}")


def test_an_env_change_runs_the_release_command_before_the_new_revision_takes_traffic(
    world: World, runner: FakeRunner
) -> None:
    runner.go.clear()  # the migration takes a while
    assert restart_with(world, DATABASE_URL="postgres://new") == "RELEASING"
    for _ in range(3):
        world.tick()
    assert world.serving() == ["1-0", "1-1"]  # the old revision serves meanwhile
    (spec,) = runner.ran
    assert spec.command == "python manage.py migrate"
    assert spec.env["DATABASE_URL"] == "postgres://new"
    assert spec.env["YUN_REVISION"] == "2"

    runner.go.set()
    found = settle(world, until=("DEPLOYED", "FAILED"))
    assert found["state"] == "DEPLOYED"
    shown = [text for _, text in found["history"]]
    assert "release: Operations to perform: apply all migrations" in shown
    for _ in range(3):
        world.tick()
    assert world.serving() == ["2-0", "2-1"]
    assert len(runner.ran) == 1  # once per release


def test_a_failing_release_command_keeps_the_old_revision_serving(
    world: World, runner: FakeRunner
) -> None:
    runner.code = 3
    restart_with(world, DATABASE_URL="postgres://broken")
    found = settle(world, until=("DEPLOYED", "FAILED"))
    assert found["state"] == "FAILED"
    assert found["reason"] == ("release command `python manage.py migrate` failed: exited with 3")
    assert "release: django.db.utils.OperationalError: no such table: users" in [
        text for _, text in found["history"]
    ]
    for _ in range(3):
        world.tick()
    assert world.serving() == ["1-0", "1-1"]
    assert world.current_version() == 1
    with world.store.session() as session:
        newest = max(session.query(Revision).all(), key=lambda r: r.version)
        assert newest.description == "restart (release phase failed)"


def test_a_restart_that_changes_nothing_does_not_run_it(world: World, runner: FakeRunner) -> None:
    assert restart_with(world) == "DEPLOYING"
    settle(world, until=("DEPLOYED",))
    assert runner.ran == []


def test_a_rollback_runs_it_for_the_old_droplet(world: World, runner: FakeRunner) -> None:
    with world.store.session() as session:  # v2: a new droplet, deployed by a build
        app = _app(session, world)
        droplet = Droplet(app_guid=app.guid, build_guid="b2", blob="b" * 64, process_types=COMMANDS)
        session.add(droplet)
        session.flush()
        revision = create_revision(
            session,
            app=app,
            droplet_guid=droplet.guid,
            commands=dict(COMMANDS),
            description="new droplet",
            actor="test",
        )
        release(session, app=app, revision=revision, actor="test")  # its build ran it
    settle(world, until=("DEPLOYED",))
    assert runner.ran == []
    with world.store.session() as session:
        app = _app(session, world)
        back = rollback_revision(session, app=app, version=1, actor="test")
        deployment = release(session, app=app, revision=back, actor="test", release_command=True)
        assert deployment is not None and deployment.state == "RELEASING"
    assert settle(world, until=("DEPLOYED", "FAILED"))["state"] == "DEPLOYED"
    assert [spec.env["YUN_REVISION"] for spec in runner.ran] == ["3"]


def test_a_cancelled_release_deploys_nothing(world: World, runner: FakeRunner) -> None:
    runner.go.clear()
    restart_with(world, FEATURE="on")
    world.tick()
    with world.store.session() as session:
        assert cancel(session, app=_app(session, world), actor="test").state == "CANCELED"
    runner.go.set()
    for _ in range(5):
        world.tick()
        time.sleep(0.05)
    assert world.deployment()["state"] == "CANCELED"
    assert world.serving() == ["1-0", "1-1"]
    assert world.current_version() == 1
