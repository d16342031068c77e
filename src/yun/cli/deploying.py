"""Deployments and revisions: `yun deployments`, `cancel-deployment`, `revisions`, `rollback`,
and following a deployment live after push, restart, scale or rollback."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table

from yun.cli.output import CliError, age, console, print_json
from yun.cli.session import client
from yun.client import ApiClient

ACTIVE = ("DEPLOYING", "CANCELING", "FAILING")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
StrategyOpt = Annotated[
    str,
    typer.Option(
        "--strategy", help="rolling (new instances replace old ones, no downtime) or recreate."
    ),
]
InFlightOpt = Annotated[
    int,
    typer.Option("--max-in-flight", min=1, help="New instances started at a time (rolling)."),
]


def release_options(strategy: str, max_in_flight: int) -> dict[str, Any]:
    if strategy not in ("rolling", "recreate"):
        raise CliError(f"--strategy: {strategy!r} is not one of rolling, recreate")
    return {"strategy": strategy, "max_in_flight": max_in_flight}


def latest(api: ApiClient, guid: str, *, since: float) -> dict[str, Any] | None:
    """The app's newest deployment if it was created at or after `since` (server time)."""
    found = api.deployments(guid)
    if found and float(found[0]["created_at"]) >= since - 0.001:
        return found[0]
    return None


def follow(api: ApiClient, guid: str, name: str, *, timeout: float = 600.0) -> dict[str, Any]:
    """Print a deployment's steps as they happen; raise when it ends other than DEPLOYED."""
    deadline = time.monotonic() + timeout
    shown = 0
    while True:
        found = api.deployments(guid)
        if not found:
            raise CliError(f"app {name} has no deployment")
        deployment = found[0]
        for _, text in deployment["history"][shown:]:
            console.print(f"   {text}", highlight=False, markup=False)
        shown = len(deployment["history"])
        if deployment["state"] not in ACTIVE:
            break
        if time.monotonic() > deadline:
            raise CliError(f"deployment of {name} still under way; see `yun deployments {name}`")
        time.sleep(0.5)
    if deployment["state"] != "DEPLOYED":
        reason = deployment.get("reason") or deployment["state"].lower()
        raise CliError(
            f"deployment of {name} {deployment['state'].lower()}: {reason};"
            f" revision {deployment['version']} serves"
        )
    return deployment


def wait_released(name: str, *, after: float, deploying: bool | None = None) -> None:
    """After a change that makes a revision: follow its deployment, or wait for instances.
    `deploying` None: look for a deployment created since `after`."""
    from yun.cli.waiting import wait_running

    with client() as api:
        guid = api.find_app(name)["guid"]
        deployment = latest(api, guid, since=after) if deploying is None else None
        if deploying:
            deployment = api.deployments(guid)[0]
        if deployment is not None:
            console.print(
                f"Deploying revision {deployment['version']} of [bold]{name}[/]"
                f" ({deployment['strategy']}, {deployment['max_in_flight']} at a time)…"
            )
            follow(api, guid, name)
    wait_running(name, after=after)


def deployments(
    name: str,
    json_: JsonOpt = False,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Follow a deployment under way until it ends.")
    ] = False,
) -> None:
    """List an app's deployments, newest first."""
    with client() as api:
        guid = api.find_app(name)["guid"]
        found = api.deployments(guid)
        if json_:
            print_json(found)
            return
        if watch and found and found[0]["state"] in ACTIVE:
            follow(api, guid, name)
            found = api.deployments(guid)
    if not found:
        console.print(f"App {name} has no deployments yet (its first start needs none).")
        return
    table = Table(box=None, header_style="bold")
    for column in ("revision", "from", "state", "strategy", "progress", "started", "by", "reason"):
        table.add_column(column)
    now = time.time()
    for item in found:
        progress = ", ".join(
            f"{kind} {sides['new']} new/{sides['old']} old"
            for kind, sides in item["progress"].items()
        )
        table.add_row(
            str(item["version"]),
            str(item["from_version"] or "-"),
            item["state"].lower(),
            item["strategy"],
            progress,
            age(now - float(item["created_at"])) + " ago",
            item["created_by"],
            item["reason"],
        )
    console.print(table)


def cancel_deployment(name: str) -> None:
    """Cancel a deployment under way: the old revision's instances come back first."""
    with client() as api:
        guid = api.find_app(name)["guid"]
        api.action(guid, "cancel-deployment")
        console.print(f"Cancelling the deployment of [bold]{name}[/]…")
        follow_cancel(api, guid, name)


def follow_cancel(api: ApiClient, guid: str, name: str) -> None:
    try:
        follow(api, guid, name)
    except CliError as exc:
        if "canceled" not in str(exc):
            raise
        console.print(f"Deployment cancelled; {str(exc).rsplit(';', 1)[-1].strip()}.")


def revisions(name: str, json_: JsonOpt = False) -> None:
    """List an app's revisions, newest first: what changed, when, who."""
    with client() as api:
        found = api.revisions(api.find_app(name)["guid"])
    if json_:
        print_json(found)
        return
    table = Table(box=None, header_style="bold")
    for column in ("version", "", "description", "changes", "created", "by", "droplet"):
        table.add_column(column)
    now = time.time()
    for item in found:
        table.add_row(
            str(item["version"]),
            "current" if item["current"] else "",
            item["description"],
            "; ".join(item["changes"]),
            age(now - float(item["created_at"])) + " ago",
            item["created_by"],
            "kept" if item["droplet_kept"] else "deleted",
        )
    console.print(table)


def rollback(
    name: str,
    version: Annotated[int, typer.Option("--version", min=1, help="The revision to go back to.")],
    strategy: StrategyOpt = "rolling",
    max_in_flight: InFlightOpt = 1,
) -> None:
    """Deploy an earlier revision again, without staging: its droplet, env and limits."""
    body = {"version": version, **release_options(strategy, max_in_flight)}
    with client() as api:
        guid = api.find_app(name)["guid"]
        result = api.action(guid, "rollback", body)
    console.print(f"Rolling [bold]{name}[/] back to revision {version} (as {result['revision']})")
    wait_released(name, after=float(result["updated_at"]), deploying=bool(result["deployment"]))
