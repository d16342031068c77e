"""`yun logs` (recent or live tail) and `yun events`."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from typing import Annotated, Any

import typer

from yun.cli.options import JsonOpt
from yun.cli.output import Listing, age, console, print_json, print_json_lines
from yun.cli.session import client


def format_line(line: dict[str, Any]) -> str:
    stamp = dt.datetime.fromtimestamp(float(line["ts"])).isoformat(timespec="milliseconds")
    return f"{stamp} [{line['source']}] {line['message']}"


def logs(
    name: str,
    recent: Annotated[
        bool, typer.Option("--recent", help="Print the recent lines, oldest first, and exit.")
    ] = False,
    json_: Annotated[
        bool,
        typer.Option(
            "--json", help="Print JSON: a list with --recent, else one object a line as they come."
        ),
    ] = False,
) -> None:
    """Show an app's logs: staging, app output, router access and platform lines.

    Examples:
      yun logs myapp --recent | grep ERR
      yun logs myapp
    """
    with client() as api:
        found = api.find_app(name)
        if recent:
            lines = api.recent_logs(found["guid"])
            if json_:
                print_json(lines)
                return
            for line in lines:
                console.print(format_line(line), markup=False, highlight=False, soft_wrap=True)
            return
        stream = (item for item in api.stream_logs(found["guid"], offset=-1) if "source" in item)
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


def events(name: str, json_: JsonOpt = False) -> None:
    """Show an app's recent events, newest first: pushes, scaling, crashes, who and when."""
    with client() as api:
        found = api.find_app(name)
        rows = api.events(found["guid"])
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
