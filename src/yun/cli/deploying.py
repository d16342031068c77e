"""Deployments and revisions: `yun deployments`, `cancel-deployment`, `revisions`, `rollback`,
and following a deployment live after push, restart, scale or rollback."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from yun.cli.options import STRATEGIES, InFlightOpt, JsonOpt, KeepOpt, StepsOpt, StrategyOpt
from yun.cli.output import CliError, Listing, age, console, print_json
from yun.cli.session import client
from yun.client import ApiClient

ACTIVE = ("RELEASING", "DEPLOYING", "CANCELING", "FAILING")


def release_options(
    strategy: str, max_in_flight: int, steps: str | None = None, keep_old: float = 60.0
) -> dict[str, Any]:
    """The API's release options from the command's flags; a mistake is one error line."""
    if strategy not in STRATEGIES:
        raise CliError(f"--strategy: {strategy!r} is not one of {', '.join(STRATEGIES)}")
    options: dict[str, Any] = {"strategy": strategy, "max_in_flight": max_in_flight}
    if steps is not None:
        if strategy != "canary":
            raise CliError("--instance-steps: only with --strategy canary")
        try:
            options["instance_steps"] = [int(part) for part in steps.split(",")]
        except ValueError:
            raise CliError(f"--instance-steps: {steps!r} is not percentages like 10,50") from None
        values = options["instance_steps"]
        if any(not 0 < v < 100 for v in values) or values != sorted(set(values)):
            raise CliError(f"--instance-steps: {steps!r} must rise, each between 1 and 99")
    if strategy == "blue-green":
        options["keep_old"] = keep_old
    return options


def latest(api: ApiClient, guid: str, *, since: float) -> dict[str, Any] | None:
    """The app's newest deployment if it was created at or after `since` (server time)."""
    found = api.deployments(guid)
    if found and float(found[0]["created_at"]) >= since - 0.001:
        return found[0]
    return None


def follow(
    api: ApiClient, guid: str, name: str, *, skip: int = 0, timeout: float = 600.0
) -> dict[str, Any]:
    """Print a deployment's steps (after the first `skip`) as they happen, until it ends or
    pauses; raise when it ends other than DEPLOYED."""
    deadline = time.monotonic() + timeout
    shown = skip
    while True:
        found = api.deployments(guid)
        if not found:
            raise CliError(f"app {name} has no deployment")
        deployment = found[0]
        for _, text in deployment["history"][shown:]:
            console.print(f"   {text}", highlight=False, markup=False)
        shown = len(deployment["history"])
        if deployment["state"] == "PAUSED":
            console.print(
                f"Paused: continue with `yun continue-deployment {name}`,"
                f" or `yun cancel-deployment {name}`."
            )
            return deployment
        if deployment["state"] not in ACTIVE:
            break
        if time.monotonic() > deadline:
            raise CliError(f"deployment of {name} still under way; see `yun deployments {name}`")
        time.sleep(0.5)
    if deployment["state"] != "DEPLOYED":
        reason = deployment.get("reason") or deployment["state"].lower()
        serving = deployment.get("from_version") or deployment["version"]  # turned back
        raise CliError(
            f"deployment of {name} {deployment['state'].lower()}: {reason};"
            f" revision {serving} serves"
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
            console.print(f"Deploying revision {deployment['version']} of [bold]{name}[/]…")
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
    table = Listing("revision", "from", "state", "strategy", "progress", "started", "by", "reason")
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


def continue_deployment(name: str) -> None:
    """Move a paused canary to its next traffic step, or past the last one to the end."""
    with client() as api:
        guid = api.find_app(name)["guid"]
        resumed = api.action(guid, "continue-deployment")
        console.print(f"Continuing the deployment of [bold]{name}[/]…")
        follow(api, guid, name, skip=len(resumed["history"]) - 1)


def cancel_deployment(name: str) -> None:
    """Cancel a deployment under way: the old revision's instances come back first."""
    with client() as api:
        guid = api.find_app(name)["guid"]
        cancelled = api.action(guid, "cancel-deployment")
        console.print(f"Cancelling the deployment of [bold]{name}[/]…")
        follow_cancel(api, guid, name, skip=len(cancelled["history"]) - 1)


def follow_cancel(api: ApiClient, guid: str, name: str, *, skip: int = 0) -> None:
    try:
        follow(api, guid, name, skip=skip)
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
    table = Listing("version", "", "description", "changes", "commit", "created", "by", "droplet")
    now = time.time()
    for item in found:
        table.add_row(
            str(item["version"]),
            "current" if item["current"] else "",
            item["description"],
            "; ".join(item["changes"]),
            (item.get("commit") or "")[:12],
            age(now - float(item["created_at"])) + " ago",
            item["created_by"],
            "kept" if item["droplet_kept"] else "deleted",
        )
    console.print(table)


def rollback(
    name: str,
    version: Annotated[
        int,
        typer.Option(
            "--version", min=1, metavar="N", help="The revision to go back to (1 or more)."
        ),
    ],
    strategy: StrategyOpt = "rolling",
    max_in_flight: InFlightOpt = 1,
    instance_steps: StepsOpt = None,
    keep_old: KeepOpt = 60.0,
) -> None:
    """Deploy an earlier revision again, without staging: its droplet, env and limits.

    Examples:
      yun revisions myapp
      yun rollback myapp --version 3
    """
    options = release_options(strategy, max_in_flight, instance_steps, keep_old)
    body = {"version": version, **options}
    with client() as api:
        guid = api.find_app(name)["guid"]
        result = api.action(guid, "rollback", body)
    console.print(f"Rolling [bold]{name}[/] back to revision {version} (as {result['revision']})")
    wait_released(name, after=float(result["updated_at"]), deploying=bool(result["deployment"]))
