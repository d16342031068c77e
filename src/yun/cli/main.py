"""The `yun` command: verbs named like the cf CLI, one clear error line on failure."""

from __future__ import annotations

import os
import sys
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from yun import __version__
from yun.cli import apps, autoscaling, deploying, logs, pushing, routes, services
from yun.cli import config as cli_config
from yun.cli.droplets import droplet_app
from yun.cli.output import CliError, console, errors
from yun.cli.server import server_app
from yun.client import ApiClient, ApiError
from yun.manifest import ManifestError

app = typer.Typer(
    name="yun",
    help="Yun: push apps with a Cloud Foundry / Stackato manifest and run them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command()
def login(
    api: Annotated[str | None, typer.Option("-a", "--api", help="API URL.")] = None,
    username: Annotated[str, typer.Option("-u", "--username")] = "admin",
    password: Annotated[str | None, typer.Option("-p", "--password")] = None,
) -> None:
    """Log in to a Yun API and remember the target."""
    config = cli_config.load()
    if api:
        config.api = api.rstrip("/")
    if password is None:
        if not sys.stdin.isatty():
            raise CliError("-p/--password is required when not on a terminal")
        password = typer.prompt("Password", hide_input=True)
    with ApiClient(config.api) as client:
        client.info()
        config.token = client.login(username, password)
    config.user = username
    cli_config.save(config)
    console.print(
        f"Logged in to {config.api} as {username}. Target: org {config.org}, space {config.space}."
    )


@app.command()
def target() -> None:
    """Show the API, user, org and space the CLI talks to."""
    config = cli_config.load()
    console.print(f"API:   {config.api}")
    console.print(f"user:  {config.user or '(not logged in)'}")
    console.print(f"org:   {config.org}")
    console.print(f"space: {config.space}")


@app.command()
def version() -> None:
    """Print the CLI version."""
    console.print(f"yun {__version__}")


app.command()(pushing.push)
app.command()(pushing.restage)
app.command("apps")(apps.apps)
app.command("app")(apps.app)
app.command()(apps.start)
app.command()(apps.stop)
app.command()(apps.restart)
app.command()(apps.scale)
app.command()(apps.delete)
app.command()(apps.env)
app.command("set-env")(apps.set_env)
app.command("unset-env")(apps.unset_env)
app.command()(deploying.deployments)
app.command("continue-deployment")(deploying.continue_deployment)
app.command("cancel-deployment")(deploying.cancel_deployment)
app.command()(deploying.revisions)
app.command()(deploying.rollback)
app.command()(autoscaling.autoscale)
app.command()(routes.routes)
app.command("update-route")(routes.update_route)
app.command("create-route")(routes.create_route)
app.command("delete-route")(routes.delete_route)
app.command()(logs.logs)
app.command()(logs.events)
services.register(app)
app.add_typer(droplet_app, name="droplet")
app.add_typer(server_app, name="server")


def _error(message: str) -> NoReturn:
    errors.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    sys.exit(1)


def _is_usage_error(exc: Exception) -> bool:
    """A click-style error about the command line (it names the option and shows usage)."""
    return all(hasattr(exc, name) for name in ("show", "exit_code", "format_message"))


def run() -> None:
    import click

    try:
        code = app(standalone_mode=False)
    except (CliError, ApiError, ManifestError) as exc:
        _error(str(exc))
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        _error("aborted")
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if _is_usage_error(exc):  # Typer's own copy of click raises its own classes
            exc.show()  # type: ignore[attr-defined]
            sys.exit(int(exc.exit_code))  # type: ignore[attr-defined]
        if os.environ.get("YUN_DEBUG"):
            raise
        _error(f"unexpected {type(exc).__name__}: {exc} (set YUN_DEBUG=1 for a traceback)")
    sys.exit(code if isinstance(code, int) else 0)
