"""Options several commands share: how a new revision is released (push, restart, rollback)."""

from __future__ import annotations

from typing import Annotated

import typer

STRATEGIES = ("rolling", "canary", "blue-green", "recreate")
StrategyOpt = Annotated[
    str,
    typer.Option(
        "--strategy",
        help="rolling (the default: new instances replace old ones), canary (a share of"
        " requests first, paused), blue-green (a full new set, switched at once) or recreate.",
    ),
]
InFlightOpt = Annotated[
    int,
    typer.Option("--max-in-flight", min=1, help="New instances started at a time (rolling)."),
]
StepsOpt = Annotated[
    str | None,
    typer.Option(
        "--instance-steps", help="Canary: percent of requests to the new revision, e.g. 10,50."
    ),
]
KeepOpt = Annotated[
    float,
    typer.Option("--keep-old", min=0, help="Blue-green: seconds the old set stands by."),
]
