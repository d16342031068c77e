"""Options several commands share: `--json`, memory and disk limits, and how a new revision
is released (push, restart, rollback)."""

from __future__ import annotations

from typing import Annotated

import typer

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print JSON (every field, full values) for scripts.")
]
MemoryOpt = Annotated[
    str | None,
    typer.Option("-m", "--memory", metavar="SIZE", help="Memory limit, e.g. 256M or 1G."),
]
DiskOpt = Annotated[
    str | None, typer.Option("-k", "--disk", metavar="SIZE", help="Disk limit, e.g. 1G.")
]

STRATEGIES = ("rolling", "canary", "blue-green", "recreate")
StrategyOpt = Annotated[
    str,
    typer.Option(
        "--strategy",
        metavar="STRATEGY",
        help="rolling (new instances replace old ones), canary (a share of requests first,"
        " paused), blue-green (a full new set, switched at once) or recreate.",
    ),
]
InFlightOpt = Annotated[
    int,
    typer.Option(
        "--max-in-flight",
        min=1,
        metavar="N",
        help="Rolling: new instances started at a time (1 or more).",
    ),
]
StepsOpt = Annotated[
    str | None,
    typer.Option(
        "--instance-steps",
        metavar="PERCENTS",
        help="Canary: percent of requests to the new revision at each pause, e.g. 10,50.",
    ),
]
KeepOpt = Annotated[
    float,
    typer.Option(
        "--keep-old", min=0, metavar="SECONDS", help="Blue-green: seconds the old set stands by."
    ),
]
