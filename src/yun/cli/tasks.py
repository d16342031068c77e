"""One-off tasks: `yun run-task`, `yun tasks`, `yun terminate-task`."""

from __future__ import annotations

import datetime
import time
from typing import Annotated, Any

import typer

from yun.cli.options import DiskOpt, JsonOpt, MemoryOpt
from yun.cli.output import CliError, Listing, age, console, print_json
from yun.cli.session import client
from yun.client import ApiClient
from yun.manifest import parse_size

FINISHED = ("SUCCEEDED", "FAILED")
POLL = 0.5


def _size(option: str, value: str | None) -> int | None:
    try:
        return parse_size(value) if value else None
    except ValueError as exc:
        raise CliError(f"{option}: {value!r} is not a size like 256M or 1G") from exc


def run_task(
    name: Annotated[str, typer.Argument(metavar="APP")],
    command: Annotated[
        str, typer.Argument(metavar="COMMAND", help="What to run, e.g. 'rake db:migrate'.")
    ],
    task_name: Annotated[
        str | None, typer.Option("--name", metavar="NAME", help="A name for the task.")
    ] = None,
    memory: MemoryOpt = None,
    disk: DiskOpt = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", "-w", help="Print the task's output as it comes and exit with its status."
        ),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Run a one-off command on the app's current droplet, with its environment and services.

    The task's output is in the app's log (source TASK); its memory counts against the
    space's and org's quotas while it runs.

    Examples:
      yun run-task myapp "python manage.py migrate" --name migrate
      yun run-task myapp "python report.py" -m 1G --wait
    """
    memory_mb, disk_mb = _size("--memory", memory), _size("--disk", disk)
    with client() as api:
        guid = api.find_app(name)["guid"]
        task = api.run_task(
            guid, command=command, name=task_name, memory_in_mb=memory_mb, disk_in_mb=disk_mb
        )
        if json_ and not wait:
            print_json(task)
            return
        if not json_:
            console.print(
                f"Task {task['sequence_id']} ({task['name']}) of {name} submitted;"
                f" see `yun logs {name} --source TASK`.",
                highlight=False,
            )
        if wait:
            task = follow_task(api, guid, task, quiet=json_)
            if json_:
                print_json(task)
            if task["state"] != "SUCCEEDED":
                raise typer.Exit(_exit_code(task))


def _exit_code(task: dict[str, Any]) -> int:
    code = task.get("exit_code")
    return int(code) if isinstance(code, int) and 0 < code < 256 else 1


def follow_task(
    api: ApiClient, guid: str, task: dict[str, Any], *, quiet: bool = False
) -> dict[str, Any]:
    """Print the task's log lines as they come, until it finishes; the finished task."""
    source = task["log_source"]
    since = float(task["created_at"]) - 1.0
    at_since: list[str] = []  # the lines shown whose time is `since`: not shown twice
    while True:
        task = api.task(guid, int(task["sequence_id"]))
        when = datetime.datetime.fromtimestamp(since, datetime.UTC).isoformat()
        lines, _ = api.recent_logs(guid, source="TASK", since=when)
        shown = list(at_since)
        for line in lines:
            ts, message = float(line["ts"]), str(line["message"])
            if line["source"] != source or ts < since:
                continue
            if ts == since and message in shown:
                shown.remove(message)
                continue
            if not quiet:
                console.print(message, markup=False, highlight=False, soft_wrap=True)
            if ts > since:
                since, at_since, shown = ts, [], []
            at_since.append(message)
        if task["state"] in FINISHED:
            return task
        time.sleep(POLL)


def tasks(name: Annotated[str, typer.Argument(metavar="APP")], json_: JsonOpt = False) -> None:
    """List an app's tasks, newest first: state, exit status, when, who."""
    with client() as api:
        found = api.tasks(api.find_app(name)["guid"])
    if json_:
        print_json(found)
        return
    if not found:
        console.print(f"App {name} has no tasks yet (`yun run-task {name} COMMAND`).")
        return
    table = Listing("id", "name", "state", "exit", "started", "took", "by", "command", "reason")
    now = time.time()
    for item in found:
        started, finished = item.get("started_at"), item.get("finished_at")
        took = age(float(finished) - float(started)) if started and finished else ""
        table.add_row(
            str(item["sequence_id"]),
            item["name"],
            item["state"].lower(),
            "" if item["exit_code"] is None else str(item["exit_code"]),
            age(now - float(started)) + " ago" if started else "",
            took,
            item["created_by"],
            item["command"],
            (item.get("result") or {}).get("failure_reason") or "",
        )
    console.print(table)


def terminate_task(
    name: Annotated[str, typer.Argument(metavar="APP")],
    task_id: Annotated[
        int, typer.Argument(metavar="ID", min=1, help="The task's id (`yun tasks`).")
    ],
) -> None:
    """Stop a task: SIGTERM, then SIGKILL ten seconds later; it ends FAILED (terminated)."""
    with client() as api:
        task = api.terminate_task(api.find_app(name)["guid"], task_id)
    console.print(
        f"Terminating task {task['sequence_id']} ({task['name']}) of {name}.", highlight=False
    )
