"""What a restore builds besides the store: the stacks of the started apps' droplets, where
instances run in containers; nothing where they run as host processes."""

from __future__ import annotations

from pathlib import Path

from tests.unit.controllers.deployment_world import World

from yun.server.restoring import _build_stacks, stacks_wanted
from yun.settings import Settings
from yun.store.models import App, Droplet


def test_the_stacks_of_started_apps_droplets_are_wanted(tmp_path: Path) -> None:
    world = World(tmp_path)
    try:
        world.push(instances=1, name="web")
        assert stacks_wanted(world.store) == {}  # staged on the host's userland
        with world.store.session() as session:
            for droplet in session.query(Droplet):
                droplet.stack = "bookworm"
        assert stacks_wanted(world.store) == {"bookworm": ["web"]}
        with world.store.session() as session:
            app = session.query(App).one()
            app.state = "STOPPED"
        assert stacks_wanted(world.store) == {}
    finally:
        world.close()


def test_no_stack_is_built_for_the_process_driver(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, driver="process", stacks_root=tmp_path / "stacks")
    said: list[str] = []
    assert _build_stacks(settings, {"bookworm": ["web"]}, said.append) == 0
    assert said == [] and not (tmp_path / "stacks").exists()
