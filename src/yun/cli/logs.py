"""`yun logs` (recent or live tail) and `yun events`."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from yun.cli.output import age, console, print_json
from yun.cli.session import client


def format_line(line: dict[str, Any]) -> str:
    stamp = dt.datetime.fromtimestamp(float(line["ts"])).isoformat(timespec="milliseconds")
    return f"{stamp} [{line['source']}] {line['message']}"


def logs(
    name: str,
    recent: Annotated[bool, typer.Option("--recent", help="Print recent lines and exit.")] = False,
    json_: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show an app's logs: staging, app output, router access and platform lines."""
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
        console.print(f"Tailing logs for app {name}… (Ctrl-C to stop)")
        console.file.flush()
        try:
            for item in api.stream_logs(found["guid"], offset=-1):
                if "source" in item:
                    console.print(format_line(item), markup=False, highlight=False, soft_wrap=True)
                    console.file.flush()
        except KeyboardInterrupt:
            return


def events(name: str, json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show an app's recent events: pushes, scaling, crashes, who and when."""
    with client() as api:
        found = api.find_app(name)
        rows = api.events(found["guid"])
    if json_:
        print_json(rows)
        return
    table = Table(box=None, header_style="bold")
    for column in ("time", "event", "actor", "description"):
        table.add_column(column)
    now = time.time()
    for row in rows:
        data = row.get("data") or {}
        description = ", ".join(f"{k}: {v}" for k, v in data.items() if k != "manifest")
        table.add_row(age(now - row["timestamp"]) + " ago", row["type"], row["actor"], description)
    console.print(table)
