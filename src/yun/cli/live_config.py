"""`yun config`: live configuration of an app, or with `--space` of the targeted space.

Every change is a version; running instances see it within moments without a restart, in the
file at `YUN_CONFIG_FILE` and on the stream at `YUN_CONFIG_URL`; instances started later also
get the values as environment variables. `--restart` rolls the app out instead, so every
instance starts with the new values in its environment.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from yun.cli import config as cli_config
from yun.cli.help import YunTyper
from yun.cli.options import JsonOpt
from yun.cli.output import CliError, Listing, console, print_json
from yun.cli.session import client
from yun.client import ApiClient
from yun.client.live_config import ConfigClient

config_app = YunTyper(
    help="Live configuration of an app or a space, delivered without a restart.",
    no_args_is_help=True,
)
MASK = "********"

SpaceOpt = Annotated[
    bool, typer.Option("--space", help="The targeted space's configuration, under all its apps.")
]
RestartOpt = Annotated[
    bool, typer.Option("--restart", help="Also restart the app (a rolling restart).")
]


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False)


def _split(args: list[str], space: bool, *, least: int, most: int, usage: str) -> list[str]:
    """The words after APP (which `--space` leaves out); a wrong count names the usage."""
    wanted = (least, most) if space else (least + 1, most + 1)
    if not wanted[0] <= len(args) <= wanted[1]:
        form = usage if not space else usage.replace("APP ", "--space ", 1)
        raise CliError(f"usage: yun config {form}")
    return args


def _scope(api: ApiClient, args: list[str], space: bool) -> tuple[ConfigClient, str, list[str]]:
    """(the client for the app's or the space's configuration, what it is called, the rest)."""
    if space:
        target = cli_config.load()
        if not target.org or not target.space:
            raise CliError("--space: no space targeted; run `yun target -o ORG -s SPACE`")
        where = (target.org, target.space)
        return ConfigClient(api, space=where), f"space {target.space}", args
    app = api.find_app(args[0])
    return ConfigClient(api, app_guid=app["guid"]), f"app {app['name']}", args[1:]


def _restart(api: ApiClient, args: list[str], space: bool, restart: bool) -> None:
    if not restart:
        return
    if space:
        raise CliError("--restart restarts an app: give APP rather than --space")
    app = api.find_app(args[0])
    api.action(app["guid"], "restart")
    _say(f"Restarting {app['name']}: its instances start again with the new environment.")


@config_app.command("set")
def set_(
    args: Annotated[list[str], typer.Argument(metavar="APP KEY [VALUE]", show_default=False)],
    file: Annotated[
        Path | None, typer.Option("--file", metavar="FILE", help="The value is this file's text.")
    ] = None,
    secret: Annotated[
        bool, typer.Option("--secret", help="Show the value masked in lists and history.")
    ] = False,
    space: SpaceOpt = False,
    restart: RestartOpt = False,
) -> None:
    """Set a key of an app's configuration (or with --space, the targeted space's).

    Examples:
      yun config set shop FEATURE_CHECKOUT on
      yun config set shop PRICES --file prices.json
      yun config set --space LOG_LEVEL debug
      yun config set shop API_TOKEN s3cr3t --secret --restart
    """
    words = _split(
        args, space, least=1 if file else 2, most=1 if file else 2, usage="set APP KEY VALUE"
    )
    key_at = 0 if space else 1
    key = words[key_at]
    if file is not None:
        try:
            value = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"--file: cannot read {file}: {exc}") from None
    else:
        value = words[key_at + 1]
    with client() as api:
        scope, name, _ = _scope(api, words, space)
        result = scope.change({key: value}, unset=[], secret=[key] if secret else [])
        changed = "set" if result["changed"] else "already had that value:"
        _say(f"{name}: {key} {changed} (version {result['version']}).")
        _restart(api, words, space, restart)


@config_app.command("unset")
def unset(
    args: Annotated[list[str], typer.Argument(metavar="APP KEY...", show_default=False)],
    space: SpaceOpt = False,
    restart: RestartOpt = False,
) -> None:
    """Remove keys from an app's configuration (or the targeted space's)."""
    words = _split(args, space, least=1, most=1000, usage="unset APP KEY...")
    with client() as api:
        scope, name, keys = _scope(api, words, space)
        result = scope.change({}, unset=keys, secret=[])
        what = "removed" if result["changed"] else "not there: nothing changed"
        _say(f"{name}: {', '.join(keys)} {what} (version {result['version']}).")
        _restart(api, words, space, restart)


@config_app.command("get")
def get(
    args: Annotated[list[str], typer.Argument(metavar="APP KEY", show_default=False)],
    space: SpaceOpt = False,
) -> None:
    """Print one value as it is (an app's: its own, else its space's), for scripts."""
    words = _split(args, space, least=1, most=1, usage="get APP KEY")
    with client() as api:
        scope, name, rest = _scope(api, words, space)
        shown = scope.show()
    values = shown["values"]
    if rest[0] not in values:
        raise CliError(f"{name} has no configuration key {rest[0]} (`yun config list`)")
    typer.echo(values[rest[0]])


@config_app.command("list")
def list_(
    args: Annotated[list[str], typer.Argument(metavar="APP", show_default=False)] = [],  # noqa: B006
    space: SpaceOpt = False,
    reveal: Annotated[bool, typer.Option("--reveal", help="Show secret values too.")] = False,
    json_: JsonOpt = False,
) -> None:
    """List the configuration: an app's own keys and those it takes from its space."""
    words = _split(args, space, least=0, most=0, usage="list APP")
    with client() as api:
        scope, name, _ = _scope(api, words, space)
        shown = scope.show()
    if json_:
        print_json(shown)
        return
    rows: list[tuple[str, str, str]] = []
    if space:
        rows = _rows(shown, "space", reveal)
        version = f"version {shown['version']}"
    else:
        own = _rows(shown["app"], "app", reveal)
        mine = {key for key, _, _ in own}
        rows = own + [row for row in _rows(shown["space"], "space", reveal) if row[0] not in mine]
        version = f"version {shown['version']}"
    if not rows:
        _say(f"{name} has no configuration (`yun config set`).")
        return
    _say(f"{name}, {version}:")
    table = Listing("key", "value", "from")
    for key, value, source in sorted(rows):
        table.add_row(key, value, source)
    console.print(table)


def _rows(part: dict[str, Any], source: str, reveal: bool) -> list[tuple[str, str, str]]:
    secret = set(part.get("secret_keys", ()))
    return [
        (key, value if reveal or key not in secret else MASK, source)
        for key, value in part.get("values", {}).items()
    ]


@config_app.command("history")
def history(
    args: Annotated[list[str], typer.Argument(metavar="APP", show_default=False)] = [],  # noqa: B006
    space: SpaceOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Show who changed which keys and when, newest last (secret values masked)."""
    words = _split(args, space, least=0, most=0, usage="history APP")
    with client() as api:
        scope, name, _ = _scope(api, words, space)
        found = scope.history()
    if json_:
        print_json(found)
        return
    if not found:
        _say(f"{name} has no configuration history.")
        return
    table = Listing("version", "when", "by", "change")
    for item in found:
        change = f"{item['action']} {', '.join(item['keys'])}".strip()
        if item["from_version"]:
            change += f" (back to version {item['from_version']})"
        when = datetime.datetime.fromtimestamp(item["created_at"], datetime.UTC)
        table.add_row(
            str(item["version"]), when.strftime("%Y-%m-%d %H:%M:%S"), item["created_by"], change
        )
    console.print(table)


@config_app.command("rollback")
def rollback(
    args: Annotated[list[str], typer.Argument(metavar="APP", show_default=False)] = [],  # noqa: B006
    version: Annotated[
        int, typer.Option("--version", metavar="N", min=1, help="The version to go back to.")
    ] = 0,
    space: SpaceOpt = False,
    restart: RestartOpt = False,
) -> None:
    """Make an old version's values the current ones (as a new version).

    Examples:
      yun config history shop
      yun config rollback shop --version 3
    """
    if not version:
        raise CliError("--version N is needed (see `yun config history`)")
    words = _split(args, space, least=0, most=0, usage="rollback APP --version N")
    with client() as api:
        scope, name, _ = _scope(api, words, space)
        result = scope.rollback(version)
        _say(f"{name}: back to the values of version {version} (now version {result['version']}).")
        _restart(api, words, space, restart)
