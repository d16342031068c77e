"""Waiting for an app's instances after push/start/restart, like `cf push` does."""

from __future__ import annotations

import time
from typing import Any

from yun.cli.apps import show_app
from yun.cli.output import CliError, console
from yun.cli.session import client


def _wanted(app: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in app["processes"] if p["instances"] > 0]


def _fresh_running(proc: dict[str, Any], after: float) -> int:
    return sum(
        1
        for inst in proc.get("instance_details", [])
        if inst["state"] == "RUNNING"
        and inst["since"] >= after
        and (inst.get("routed") or not proc.get("has_routes"))
    )


def wait_running(name: str, *, after: float = 0.0, timeout: float = 180.0) -> dict[str, Any]:
    """Wait until every process with instances has one RUNNING instance that became RUNNING
    after `after` (server time of the change), so an instance of the old release does not count;
    fail when every instance has crashed."""
    deadline = time.monotonic() + timeout
    with client() as api:
        with console.status("Waiting for app instances to start…"):
            while True:
                app = api.find_app(name)
                procs = _wanted(app)
                if app["state"] != "STARTED":
                    raise CliError(f"app {name} is {app['state'].lower()}")
                if not procs:
                    break
                if all(_fresh_running(p, after) > 0 for p in procs):
                    break
                details = [i for p in procs for i in p.get("instance_details", [])]
                if (
                    details
                    and len(details) >= sum(p["instances"] for p in procs)
                    and all(i["state"] == "CRASHED" for i in details)
                ):
                    reasons = {i.get("reason") or "crashed" for i in details}
                    raise CliError(
                        f"start of {name} was unsuccessful: every instance crashed "
                        f"({'; '.join(sorted(reasons))}); see `yun logs {name} --recent`"
                    )
                if time.monotonic() > deadline:
                    raise CliError(f"timed out waiting for {name} to start; see `yun app {name}`")
                time.sleep(0.3)
        console.print()
        show_app(api, app)
        return app
