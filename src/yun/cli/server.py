"""`yun server` (run in the foreground) and `yun server stop [--all]`."""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import time
from typing import Annotated

import typer

from yun.cli.help import YunTyper
from yun.cli.output import CliError, console
from yun.settings import Settings, SettingsError

server_app = YunTyper(
    help="Run or stop the platform of this YUN_HOME.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@server_app.callback()
def server(ctx: typer.Context) -> None:
    """Run the platform (API, controllers, agent, router) in the foreground."""
    if ctx.invoked_subcommand is not None:
        return
    from yun.server.drivers import DriverUnavailable, choose, runc_missing
    from yun.server.platform import AlreadyRunning, MissingTool, Platform

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise CliError(str(exc)) from exc
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # `kill -USR1 PID` writes every thread's stack to the log: what a hung server waits on.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        platform = Platform(settings)
        console.print(
            f"yun server: API {settings.api_url}, router "
            f"http://*.{settings.domain}:{settings.router_port}, home {settings.home}"
        )
        driver = choose(settings)
        console.print(f"instances run with the {driver} driver")
        if driver == "process" and settings.driver == "auto":
            console.print(f"(not in containers: {runc_missing()})")
        platform.run()
    except (AlreadyRunning, MissingTool, DriverUnavailable) as exc:
        raise CliError(str(exc)) from exc
    except OSError as exc:
        raise CliError(f"cannot start: {exc}") from exc


@server_app.command("stop")
def stop(
    all_: Annotated[
        bool, typer.Option("--all", help="Also stop app instances and HAProxy.")
    ] = False,
    timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds to wait for a clean stop.")
    ] = 30.0,
) -> None:
    """Stop the server of this YUN_HOME; instances and HAProxy keep running unless --all."""
    from yun.server.pidfile import alive, read_pid
    from yun.server.stopping import StopIncomplete, stop_data_plane

    settings = Settings.from_env()
    pid = read_pid(settings.home / "server.pid")
    if pid is None:
        console.print(f"No yun server is running for {settings.home}.")
    else:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            raise CliError(f"yun server (pid {pid}) did not stop within {timeout:.0f}s")
        console.print(f"Stopped yun server (pid {pid}).")
    if all_:
        try:
            stopped = stop_data_plane(settings)
        except StopIncomplete as exc:
            raise CliError(f"the data plane did not all stop: {exc}") from None
        console.print(f"Stopped {stopped} instance(s), the router and the services' servers.")
