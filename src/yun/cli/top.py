"""`yun top`: the busiest apps by CPU, memory or requests, refreshed live in the terminal."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.live import Live

from yun.cli.apps import byte_size
from yun.cli.options import JsonOpt
from yun.cli.output import CliError, Listing, console, is_tty, print_json
from yun.cli.session import client

SORTS = {
    "cpu": "cpu_percent",
    "memory": "memory_bytes",
    "requests": "requests_per_second",
    "latency": "latency_p95_ms",
}


def _number(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def rows(apps: list[dict[str, Any]], sort: str, limit: int) -> list[dict[str, Any]]:
    """The apps, busiest first by `sort`; those with nothing measured last, by name."""
    key = SORTS[sort]
    ranked = sorted(apps, key=lambda a: (a.get(key) is None, -(a.get(key) or 0), a["app"]))
    return ranked[:limit]


def table(apps: list[dict[str, Any]], interval: float) -> Listing:
    listing = Listing(
        "app", "org/space", "instances", "cpu %", "memory", "req/s", "p95 ms", "5xx/s", "in flight"
    )
    for app in apps:
        memory = app.get("memory_bytes")
        listing.add_row(
            app["app"],
            f"{app['org']}/{app['space']}",
            f"{int(app.get('instances_running') or 0)}/{len(app.get('instances', []))}",
            _number(app.get("cpu_percent")),
            "-" if memory is None else byte_size(int(memory)),
            _number(app.get("requests_per_second")),
            _number(app.get("latency_p95_ms"), 0),
            _number(app.get("responses_5xx_per_second")),
            _number(app.get("concurrency"), 0),
        )
    listing.caption = f"sampled every {interval:g} s"
    return listing


def top(
    sort: Annotated[
        str,
        typer.Option("--sort", "-s", metavar="BY", help="cpu, memory, requests or latency."),
    ] = "cpu",
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", min=1, help="Show the top N apps.")
    ] = 20,
    once: Annotated[
        bool, typer.Option("--once", help="Print once and exit (also when not on a terminal).")
    ] = False,
    every: Annotated[
        float,
        typer.Option("--every", metavar="SECONDS", min=1.0, help="Refresh every SECONDS."),
    ] = 2.0,
    json_: JsonOpt = False,
) -> None:
    """Show the busiest apps you may see, by CPU (default), memory, requests or latency,
    refreshed live until Ctrl-C. CPU is in percent of one core, summed over the app's running
    instances; requests, latency and 5xx are of the last sample.

    Examples:
      yun top
      yun top --sort requests -n 5
      yun top --once | grep myapp
    """
    if sort not in SORTS:
        raise CliError(f"--sort: {sort!r} is not one of {', '.join(SORTS)}")
    with client() as api:
        found = api.latest_metrics()
        if json_:
            print_json(rows(found["resources"], sort, limit))
            return
        if once or not is_tty(console.file):
            console.print(table(rows(found["resources"], sort, limit), found["interval"]))
            return
        try:
            with Live(console=console, auto_refresh=False) as live:
                while True:
                    live.update(
                        table(rows(found["resources"], sort, limit), found["interval"]),
                        refresh=True,
                    )
                    time.sleep(every)
                    found = api.latest_metrics()
        except KeyboardInterrupt:
            return
