"""`yun autoscale`: set, show or turn off an app's autoscaling policy."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from yun.cli.options import JsonOpt
from yun.cli.output import CliError, age, console, print_json
from yun.cli.session import client


def _show(name: str, found: dict[str, Any]) -> None:
    policy = found["policy"]
    if policy is None:
        console.print(
            f"App {name} does not autoscale. Set a target with `yun autoscale {name}"
            " --min 1 --max 5 --rps 100`."
        )
        return
    if found["source"] == "manifest":
        console.print(f"App {name} autoscales as its manifest's Stackato block says: {policy}")
    else:
        unit = {
            "cpu": "% CPU",
            "rps": " requests/s",
            "concurrency": " requests in flight",
            "p95_ms": " ms at the 95th percentile",
        }
        console.print(
            f"App {name} autoscales between {policy['min']} and {policy['max']} instances,"
            f" aiming at {policy['target']:g}{unit[policy['metric']]}"
            + (" per instance." if policy["metric"] != "p95_ms" else ".")
            + (
                f" It goes to zero after {policy.get('idle', 60):g} s without a request."
                if policy["min"] == 0
                else ""
            )
        )
    now = time.time()
    for event in found["decisions"]:
        data = event["data"]
        console.print(
            f"  {age(now - float(event['timestamp']))} ago: {data['from']} → {data['to']}"
            f" ({data['reason']})",
            markup=False,
        )


def autoscale(
    name: str,
    min_: Annotated[
        int | None,
        typer.Option("--min", min=0, metavar="N", help="Fewest instances (0 or more)."),
    ] = None,
    max_: Annotated[
        int | None,
        typer.Option("--max", min=1, metavar="N", help="Most instances (1 or more)."),
    ] = None,
    cpu: Annotated[
        float | None,
        typer.Option("--cpu", metavar="PERCENT", help="Target % CPU per instance, e.g. 70."),
    ] = None,
    rps: Annotated[
        float | None,
        typer.Option("--rps", metavar="N", help="Target requests per second per instance."),
    ] = None,
    concurrency: Annotated[
        float | None,
        typer.Option("--concurrency", metavar="N", help="Target requests in flight per instance."),
    ] = None,
    idle: Annotated[
        float,
        typer.Option(
            "--idle",
            min=1,
            metavar="SECONDS",
            help="With --min 0: seconds without a request before going to zero.",
        ),
    ] = 60.0,
    p95_ms: Annotated[
        float | None,
        typer.Option("--p95-ms", metavar="MS", help="Target 95th percentile response time, in ms."),
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Stop autoscaling.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Autoscale an app on CPU, requests per second, requests in flight or p95 latency (HPA
    rule with Knative-style panic and stable windows); without options, show its policy.

    Examples:
      yun autoscale myapp --min 2 --max 10 --rps 100
      yun autoscale myapp --min 0 --max 3 --concurrency 20 --idle 120
      yun autoscale myapp
      yun autoscale myapp --off
    """
    given = (("cpu", cpu), ("rps", rps), ("concurrency", concurrency), ("p95_ms", p95_ms))
    targets = {k: v for k, v in given if v}
    with client() as api:
        guid = api.find_app(name)["guid"]
        if off:
            if targets or min_ is not None or max_ is not None:
                raise CliError("--off: give it alone")
            found = api.delete_autoscale(guid)
            console.print(f"App {name} no longer autoscales.")
            return
        if not targets and min_ is None and max_ is None:
            found = api.autoscale(guid)
            if json_:
                print_json(found)
            else:
                _show(name, found)
            return
        if len(targets) != 1:
            raise CliError("give one target: --cpu N, --rps N, --concurrency N or --p95-ms N")
        if min_ is None or max_ is None:
            raise CliError("give both --min and --max")
        ((metric, target),) = targets.items()
        policy = {"min": min_, "max": max_, "metric": metric, "target": target, "idle": idle}
        found = api.set_autoscale(guid, policy)
    if json_:
        print_json(found)
    else:
        _show(name, found)
