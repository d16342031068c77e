"""`yun restore FILE`: a platform backup (`yun backup FILE`, `store/dumps.py`) restored into
this machine's `YUN_HOME`, which must be fresh and have no server running; then `yun server`
starts the platform with the apps, routes, environment and services of the backup, and first
brings the built-in services' data back (`server/recovering.py`).

Where instances run in containers (the runc driver), the stacks the started apps' droplets
were staged on are built here too when this machine lacks them (minutes each, once per
machine): an instance cannot start without its stack, and the server would only see it fail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from yun.server.drivers import DriverUnavailable, choose
from yun.server.pidfile import read_pid
from yun.server.services import offerings_here
from yun.settings import Settings
from yun.stacks.building import StackBuildError, StackStore
from yun.stacks.catalog import HOST
from yun.store.dumps import DumpError, restore
from yun.store.models import App, Droplet, Revision
from yun.store.sealing import KEY_FILE
from yun.store.session import Store

RestoreError = DumpError  # what the CLI catches: one line saying why the restore cannot be


def restore_home(
    settings: Settings, archive: Path, *, output: Callable[[str], None] = print
) -> dict[str, int]:
    """Restore `archive` into the settings' home, then build the stacks its apps need (what is
    done is told to `output`); DumpError saying why it cannot be."""
    pid = read_pid(settings.home / "server.pid")
    if pid is not None:
        raise DumpError(f"yun server runs for {settings.home} (pid {pid}); stop it first")
    if not archive.is_file():
        raise DumpError(f"{archive}: no such file")
    settings.home.mkdir(parents=True, exist_ok=True)
    store = Store(settings.db_url, key_file=settings.home / KEY_FILE)
    try:
        store.migrate()
        with archive.open("rb") as handle:
            counts = restore(
                store,
                handle,
                blobs_dir=settings.blobs_dir,
                registry_dir=settings.registry_dir,
                offerings=offerings_here(),
            )
        wanted = stacks_wanted(store)
    finally:
        store.close()
    counts["stacks_built"] = _build_stacks(settings, wanted, output)
    return counts


def stacks_wanted(store: Store) -> dict[str, list[str]]:
    """Stack name → the started apps whose current droplet runs on it (not the host's)."""
    wanted: dict[str, list[str]] = {}
    with store.session() as session:
        rows = session.execute(
            select(App.name, Droplet.stack)
            .join(Revision, Revision.guid == App.revision_guid)
            .join(Droplet, Droplet.guid == Revision.droplet_guid)
            .where(App.state == "STARTED")
        )
        for name, stack in rows:
            if stack and stack != HOST:
                wanted.setdefault(stack, []).append(name)
    return wanted


def _build_stacks(
    settings: Settings, wanted: dict[str, list[str]], output: Callable[[str], None]
) -> int:
    try:
        containers = bool(wanted) and choose(settings) == "runc"
    except DriverUnavailable as exc:
        output(f"Note: {exc}; the apps' stacks were not built")
        return 0
    if not containers:
        return 0
    stacks, built = StackStore(settings.stacks_dir, mirror=settings.stack_mirror), 0
    for name, apps in sorted(wanted.items()):
        if stacks.built(name) is not None:
            continue
        output(
            f"Building stack {name}, which {', '.join(sorted(apps))} run on (once per machine,"
            f" a few minutes; log: {stacks.log_path(name)})"
        )
        try:
            stacks.ensure(name, output=output)
        except (StackBuildError, ValueError) as exc:
            output(
                f"Stack {name} could not be built ({exc}); build it with `yun stack update {name}`"
            )
            continue
        built += 1
    return built
