"""Cron schedules: `yun schedule`, `yun schedules`, `yun unschedule`."""

from __future__ import annotations

import datetime
import time
from typing import Annotated

import typer

from yun.cli.options import JsonOpt, MemoryOpt
from yun.cli.output import CliError, Listing, age, console, print_json
from yun.cli.session import client
from yun.manifest import parse_size

AppArg = Annotated[str, typer.Argument(metavar="APP")]


def schedule(
    name: AppArg,
    expression: Annotated[
        str,
        typer.Argument(
            metavar="SCHEDULE", help="Five cron fields (UTC), like '*/5 * * * *', or @daily."
        ),
    ],
    command: Annotated[str, typer.Argument(metavar="COMMAND", help="What to run, as a task.")],
    job_name: Annotated[
        str | None,
        typer.Option("--name", metavar="NAME", help="The job's name (default: from the command)."),
    ] = None,
    memory: MemoryOpt = None,
    overlap: Annotated[
        bool,
        typer.Option("--overlap", help="Start a run even while the previous one still runs."),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Run a command as a task of the app on a cron schedule (UTC).

    A run is skipped while the previous one still runs (unless --overlap) and while the app is
    stopped; after the platform was down, the latest missed run is made once if it was due
    within the hour. Runs are tasks: `yun tasks APP` lists them.

    Examples:
      yun schedule myapp "*/5 * * * *" "python cleanup.py"
      yun schedule myapp "0 3 * * *" "python report.py" --name nightly -m 1G
    """
    try:
        memory_mb = parse_size(memory) if memory else None
    except ValueError as exc:
        raise CliError(f"--memory: {memory!r} is not a size like 256M or 1G") from exc
    with client() as api:
        made = api.schedule(
            api.find_app(name)["guid"],
            expression=expression,
            command=command,
            name=job_name,
            overlap=overlap or None,
            memory_in_mb=memory_mb,
        )
    if json_:
        print_json(made)
        return
    console.print(
        f"Scheduled {made['name']} of {name} ({made['expression']}, UTC);"
        f" next run {_when(made['next_run_at'])}.",
        highlight=False,
        markup=False,
    )


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.datetime.fromtimestamp(float(epoch), datetime.UTC).strftime("%Y-%m-%d %H:%M")


def schedules(name: AppArg, json_: JsonOpt = False) -> None:
    """List an app's cron schedules: when each runs next, how its last run went."""
    with client() as api:
        found = api.schedules(api.find_app(name)["guid"])
    if json_:
        print_json(found)
        return
    if not found:
        console.print(f"App {name} has no schedules (`yun schedule {name} SCHEDULE COMMAND`).")
        return
    table = Listing("name", "schedule", "command", "next (UTC)", "last run", "last task", "from")
    now = time.time()
    for item in found:
        last = item.get("last_task")
        task = f"{last['sequence_id']} {last['state'].lower()}" if last else ""
        ran = item.get("last_run_at")
        table.add_row(
            item["name"],
            item["expression"],
            item["command"],
            _when(item["next_run_at"]),
            age(now - float(ran)) + " ago" if ran else "",
            task,
            item["origin"],
        )
    console.print(table)
    for item in found:
        if item.get("last_outcome"):
            console.print(f"{item['name']}: {item['last_outcome']}", markup=False, highlight=False)


def unschedule(
    name: AppArg,
    job_name: Annotated[
        str, typer.Argument(metavar="NAME", help="The job's name (`yun schedules`).")
    ],
) -> None:
    """Remove a cron schedule (a run under way goes on; `yun terminate-task` stops it)."""
    with client() as api:
        api.unschedule(api.find_app(name)["guid"], job_name)
    console.print(f"Removed schedule {job_name} of {name}.", markup=False, highlight=False)
