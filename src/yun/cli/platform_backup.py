"""`yun backup FILE` and `yun restore FILE`: the whole platform's state, for disaster recovery
on a new machine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from yun.cli.output import CliError, console, transfer_progress
from yun.cli.session import client
from yun.settings import Settings, SettingsError

FileArg = Annotated[Path, typer.Argument(metavar="FILE", help="The archive (.tar.gz).")]


def backup(file: FileArg) -> None:
    """Save the platform's state to FILE (admin): the store (apps, routes, env, services,
    users, ...), the blobstore (packages, droplets, service backups), the registry's images
    and a dump of every built-in PostgreSQL and Redis service. FILE holds every secret of the
    platform: keep it as safe as the server.

    Examples:
      yun backup /srv/yun-$(date +%F).tar.gz
    """
    partial = file.with_name(file.name + ".partial")
    try:
        out = os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
    except OSError as exc:
        raise CliError(f"cannot write {file}: {exc.strerror}") from None
    console.print("Backing up the platform: built-in services are dumped first, then the archive…")
    try:
        with client() as api, out, transfer_progress(transient=True) as progress:
            partial.chmod(0o600)  # an older .partial kept its mode
            task = progress.add_task("download", total=None)
            size = api.backup(out, lambda n: progress.advance(task, n))
        partial.replace(file)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    console.print(f"Saved the platform's backup to {file} ({size >> 10} KiB).", highlight=False)


def restore(file: FileArg) -> None:
    """Restore a backup made by `yun backup` into this machine's YUN_HOME (run where the
    server runs, with it stopped, into a fresh YUN_HOME); then start `yun server`, which
    first re-creates the built-in services, loads their data and binds them again.

    Examples:
      YUN_HOME=/var/lib/yun yun restore yun-2026-12-06.tar.gz && yun server
    """
    from yun.server.restoring import RestoreError, restore_home

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise CliError(str(exc)) from exc
    try:
        counts = restore_home(
            settings, file, output=lambda line: console.print(line, markup=False, highlight=False)
        )
    except RestoreError as exc:
        raise CliError(str(exc)) from exc
    services = counts.get("services", 0)
    console.print(
        f"Restored {counts['rows']} rows, {counts['blobs']} blobs,"
        f" {counts['registry_files']} registry files and the data of {services} built-in"
        f" service{'' if services == 1 else 's'} into {settings.home};"
        " start the platform with `yun server`"
        + (" (it brings the services back before the apps start)." if services else "."),
        highlight=False,
    )
