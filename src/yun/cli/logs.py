"""`yun logs` (recent or live tail) and `yun events`."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import time
from typing import Annotated, Any

import typer

from yun.cli import config as cli_config
from yun.cli.options import JsonOpt
from yun.cli.output import CliError, Listing, age, console, print_json, print_json_lines
from yun.cli.session import client
from yun.logstore.filters import FilterError, parse_grep, parse_sources


def format_line(line: dict[str, Any]) -> str:
    stamp = dt.datetime.fromtimestamp(float(line["ts"])).isoformat(timespec="milliseconds")
    return f"{stamp} [{line['source']}] {line['message']}"


def logs(
    name: str,
    recent: Annotated[
        bool, typer.Option("--recent", help="Print the recent lines, oldest first, and exit.")
    ] = False,
    source: Annotated[
        str,
        typer.Option(
            "--source",
            metavar="KIND",
            help="Only lines of these sources: STG, APP, RTR, API, CELL, REL (APP,RTR for two).",
        ),
    ] = "",
    instance: Annotated[
        int | None,
        typer.Option(
            "--instance",
            metavar="N",
            min=0,
            help="Only instance N's lines: its output, its cell's, the requests it served.",
        ),
    ] = None,
    since: Annotated[
        str,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="The lines since 30m, 2h, 7d ago or a time, then the live tail (with --recent:"
            " then exit).",
        ),
    ] = "",
    grep: Annotated[
        str,
        typer.Option(
            "--grep", metavar="PATTERN", help="Only lines matching this regular expression."
        ),
    ] = "",
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", min=1, max=10000, help="At most N earlier lines.")
    ] = 1000,
    json_: Annotated[
        bool,
        typer.Option(
            "--json", help="Print JSON: a list with --recent, else one object a line as they come."
        ),
    ] = False,
) -> None:
    """Show an app's logs: staging, app output, router access and platform lines.

    Without --recent, follows the live tail until Ctrl-C. A reader that falls far behind
    skips ahead and is told how many lines it missed ([LOG] N lines dropped).

    Examples:
      yun logs myapp --recent | grep ERR
      yun logs myapp --source RTR --grep ' 5[0-9][0-9] '
      yun logs myapp --since 1h --grep 4bf92f3577b34da6a3ce929d0e0e4736
      yun logs myapp --instance 1
    """
    try:  # a wrong filter is told before anything is asked
        if source:
            parse_sources(source)
        if grep:
            parse_grep(grep)
    except FilterError as exc:
        raise CliError(f"--{exc}") from None
    filters: dict[str, Any] = {"source": source, "instance": instance, "grep": grep}
    with client() as api:
        found = api.find_app(name)
        earlier: list[dict[str, Any]] = []
        offset = -1
        if recent or since:
            earlier, offset = api.recent_logs(found["guid"], limit, since=since, **filters)
        if recent:
            if json_:
                print_json(earlier)
                return
            for line in earlier:
                console.print(format_line(line), markup=False, highlight=False, soft_wrap=True)
            return
        stream = itertools.chain(
            earlier,
            (
                item
                for item in api.stream_logs(found["guid"], offset=offset, **filters)
                if "source" in item
            ),
        )
        if json_:
            with contextlib.suppress(KeyboardInterrupt):
                print_json_lines(stream)
            return
        console.print(f"Tailing logs for app {name}… (Ctrl-C to stop)")
        console.file.flush()
        try:
            for item in stream:
                console.print(format_line(item), markup=False, highlight=False, soft_wrap=True)
                console.file.flush()
        except KeyboardInterrupt:
            return


def events(
    name: Annotated[
        str | None,
        typer.Argument(metavar="APP", help="An app: its events. None: the platform's."),
    ] = None,
    actor: Annotated[str, typer.Option("--actor", metavar="USER", help="Who did it.")] = "",
    space: Annotated[
        str, typer.Option("--space", metavar="SPACE", help="In this space of the targeted org.")
    ] = "",
    type_: Annotated[
        str,
        typer.Option("--type", metavar="TYPE", help="Of this type, or under it (audit.login)."),
    ] = "",
    since: Annotated[
        str, typer.Option("--since", metavar="WHEN", help="Since 30m, 2h, 7d ago, or a time.")
    ] = "",
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="At most N.", min=1)] = 100,
    json_: JsonOpt = False,
) -> None:
    """Show recent events, newest first: an app's (pushes, scaling, crashes, who and when), or
    with no app the audit trail of what you may see (all of it for admins), which the options
    filter.

    Examples:
      yun events myapp
      yun events --type audit.login --since 1h
      yun events --actor alice --space prod --json | jq -r '.[].type'
    """
    if name is None:
        _platform_events(actor, space, type_, since, limit, json_)
        return
    if actor or space or type_ or since:
        raise CliError(
            "--actor, --space, --type and --since filter the platform's events: give no APP"
        )
    with client() as api:
        found = api.find_app(name)
        rows = api.events(found["guid"], limit)
    if json_:
        print_json(rows)
        return
    table = Listing("time", "event", "actor", "description")
    now = time.time()
    for row in rows:
        data = row.get("data") or {}
        description = ", ".join(f"{k}: {v}" for k, v in data.items() if k != "manifest")
        table.add_row(age(now - row["timestamp"]) + " ago", row["type"], row["actor"], description)
    console.print(table)


def _platform_events(
    actor: str, space: str, type_: str, since: str, limit: int, json_: bool
) -> None:
    with client() as api:
        space_guid = ""
        if space:
            space_guid = api.space(cli_config.load().org, space)["guid"]
        rows = api.platform_events(
            actor=actor, space_guid=space_guid, type=type_, since=since, limit=limit
        )
    if json_:
        print_json(rows)
        return
    table = Listing("time", "event", "actor", "target", "outcome", "from", "details")
    now = time.time()
    for row in rows:
        data = row.get("data") or {}
        details = ", ".join(f"{k}: {v}" for k, v in data.items() if k != "manifest")
        table.add_row(
            age(now - row["timestamp"]) + " ago",
            row["type"],
            row["actor"] or "-",
            row["target"] or "-",
            row["outcome"] or "-",
            row["address"] or "-",
            details,
        )
    console.print(table)
