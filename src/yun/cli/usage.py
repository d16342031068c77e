"""`yun usage`: what each org and space used over a period."""

from __future__ import annotations

from typing import Annotated

import typer

from yun.cli.options import JsonOpt
from yun.cli.output import Listing, console, print_json
from yun.cli.session import client


def usage(
    org: Annotated[
        str | None, typer.Option("-o", "--org", metavar="ORG", help="One org (default: all).")
    ] = None,
    since: Annotated[
        str,
        typer.Option("--since", metavar="WHEN", help="30m, 2h, 7d ago, or a time (UTC)."),
    ] = "30d",
    json_: JsonOpt = False,
) -> None:
    """Report usage per org and space: app instance-hours, memory GB-hours, task-hours and
    service-instance hours, from usage events recorded each minute (Cloud Foundry's way).

    Examples:
      yun usage --since 7d
      yun usage -o acme --since 2026-12-01T00:00 --json
    """
    with client() as api:
        found = api.usage(org=org, since=since)
    if json_:
        print_json(found)
        return
    rows = found["resources"]
    if not rows:
        console.print("No usage in this period.")
        return
    table = Listing(
        "org", "space", "apps", "instance-h", "memory GB-h", "task-h", "task GB-h", "service-h"
    )
    for row in rows:
        table.add_row(
            row["org"],
            row["space"],
            str(row["apps"]),
            f"{row['instance_hours']:.2f}",
            f"{row['memory_gb_hours']:.2f}",
            f"{row['task_hours']:.2f}",
            f"{row['task_gb_hours']:.2f}",
            f"{row['service_hours']:.2f}",
        )
    console.print(table)
