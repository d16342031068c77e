"""`yun restore FILE`: a platform backup (`yun backup FILE`, `store/dumps.py`) restored into
this machine's `YUN_HOME`, which must be fresh and have no server running; then `yun server`
starts the platform with the apps, routes, environment and services of the backup, and first
brings the built-in services' data back (`server/recovering.py`)."""

from __future__ import annotations

from pathlib import Path

from yun.server.pidfile import read_pid
from yun.server.services import offerings_here
from yun.settings import Settings
from yun.store.dumps import DumpError, restore
from yun.store.sealing import KEY_FILE
from yun.store.session import Store

RestoreError = DumpError  # what the CLI catches: one line saying why the restore cannot be


def restore_home(settings: Settings, archive: Path) -> dict[str, int]:
    """Restore `archive` into the settings' home; DumpError saying why it cannot be."""
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
            return restore(
                store,
                handle,
                blobs_dir=settings.blobs_dir,
                registry_dir=settings.registry_dir,
                offerings=offerings_here(),
            )
    finally:
        store.close()
