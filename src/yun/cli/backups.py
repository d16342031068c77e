"""Backup commands: `yun service-backup`, `yun service-backups`, `yun service-restore`."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from yun.cli.options import JsonOpt
from yun.cli.output import CliError, Listing, console, print_json
from yun.cli.session import client
from yun.client.services import ServicesClient

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
WAIT_TIMEOUT = 3600.0


def parse_every(text: str) -> float:
    """`30m`, `12h`, `1d` (or `off`) as seconds; 0 means off."""
    if text.lower() in ("off", "0", "none"):
        return 0.0
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip().lower())
    if not match or float(match[1]) <= 0:
        raise CliError(f"--every: {text!r} is not a period like 30m, 12h or 1d (or off)")
    return float(match[1]) * UNITS[match[2]]


def _wait(services: ServicesClient, guid: str, *, restoring: bool) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_TIMEOUT
    what = "Restoring" if restoring else "Backing up"
    with console.status(f"{what}…"):
        while time.monotonic() < deadline:
            backup = services.backup(guid)
            state = backup["restore"].get("state") if restoring else backup["state"]
            if state not in ("PENDING", None):
                error = backup["restore"].get("error") if restoring else backup["error"]
                if state == "FAILED":
                    raise CliError(f"{what.lower()} failed: {error or 'no reason given'}")
                return backup
            time.sleep(0.5)
    raise CliError(f"{what.lower()} is taking long; `yun service-backups` shows how it ends")


def service_backup(
    name: Annotated[str, typer.Argument(metavar="SERVICE")],
    every: Annotated[
        str | None,
        typer.Option(
            "--every",
            metavar="PERIOD",
            help="Also back up on a schedule: 30m, 12h, 1d, or off.",
        ),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep", min=1, max=1000, metavar="N", help="Scheduled backups kept (1 to 1000)."
        ),
    ] = None,
) -> None:
    """Back a service's data up into the platform's blobstore (or set a schedule).

    Examples:
      yun service-backup mydb
      yun service-backup mydb --every 6h --keep 7
    """
    with client() as api:
        services = ServicesClient(api)
        instance = services.find(name)
        if every is not None or keep is not None:
            body: dict[str, Any] = {}
            if every is not None:
                body["backup_every"] = parse_every(every)
            if keep is not None:
                body["backups_kept"] = keep
            updated = services.update(instance["guid"], body)
            schedule = updated.get("backup_every")
            console.print(
                f"Service {name}: backups every {every}, the newest {updated['backups_kept']} kept."
                if schedule
                else f"Service {name}: no scheduled backups."
            )
            return
        backup = _wait(services, services.create_backup(instance["guid"])["guid"], restoring=False)
    console.print(
        f"Backup {backup['guid']} of {name}: {backup['size']} bytes ({backup['format']})."
    )


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def service_backups(
    name: Annotated[str, typer.Argument(metavar="SERVICE")],
    json_: JsonOpt = False,
) -> None:
    """List a service's backups, newest first."""
    with client() as api:
        services = ServicesClient(api)
        found = services.backups(services.find(name)["guid"])
    if json_:
        print_json(found)
        return
    table = Listing("id", "taken", "state", "size", "by", "last restore")
    for backup in found:
        restore = backup["restore"].get("state", "")
        table.add_row(
            backup["guid"],
            _when(backup["created_at"]),
            backup["state"].lower() + (f": {backup['error']}" if backup["error"] else ""),
            str(backup["size"]),
            backup["created_by"],
            restore.lower(),
        )
    console.print(table if found else f"Service {name} has no backups yet.")


def service_restore(
    name: Annotated[str, typer.Argument(metavar="SERVICE")],
    backup_id: Annotated[str, typer.Argument(metavar="BACKUP_ID")],
) -> None:
    """Replace a service's data with one of its backups."""
    with client() as api:
        services = ServicesClient(api)
        instance = services.find(name)
        if backup_id not in {b["guid"] for b in services.backups(instance["guid"])}:
            raise CliError(f"service {name} has no backup {backup_id}; see `yun service-backups`")
        services.restore(backup_id)
        _wait(services, backup_id, restoring=True)
    console.print(f"Service {name} restored from backup {backup_id}.")
