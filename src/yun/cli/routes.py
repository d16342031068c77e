"""Route commands: `yun routes` and `yun update-route` (a route's traffic policy)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from yun.cli.output import CliError, console, print_json
from yun.cli.session import client

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
OPTIONS = {
    "loadbalancing": "round-robin, least-connection or hash",
    "hash_header": "the header whose value picks the instance (with loadbalancing=hash)",
    "sticky": "true or false: JSESSIONID keeps a client on its instance",
    "timeout": "seconds an instance may take to answer",
}


def _describe(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(options.items()))


def routes(json_: JsonOpt = False) -> None:
    """List routes, the apps they reach and their traffic policy."""
    with client() as api:
        found = api.routes()
    if json_:
        print_json(found)
        return
    if not found:
        console.print("No routes yet.")
        return
    table = Table(box=None, header_style="bold")
    for column in ("route", "apps", "options"):
        table.add_column(column)
    for route in found:
        table.add_row(route["url"], ", ".join(route["apps"]), _describe(route["options"]))
    console.print(table)


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs as the API's route options; a mistake names the pair."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in OPTIONS:
            known = "; ".join(f"{k}: {v}" for k, v in OPTIONS.items())
            raise CliError(f"--option {pair!r}: use KEY=VALUE with one of these keys ({known})")
        if key == "sticky":
            if value.lower() not in ("true", "false"):
                raise CliError(f"--option {pair!r}: sticky is true or false")
            parsed[key] = value.lower() == "true"
        elif key == "timeout":
            try:
                parsed[key] = float(value.removesuffix("s"))
            except ValueError:
                raise CliError(f"--option {pair!r}: timeout is a number of seconds") from None
        else:
            parsed[key] = value
    return parsed


def update_route(
    route: Annotated[str, typer.Argument(help="The route, e.g. myapp.apps.localhost/api.")],
    option: Annotated[list[str], typer.Option("--option", "-o", help="KEY=VALUE, repeatable.")],
) -> None:
    """Set a route's traffic policy: loadbalancing, hash_header, sticky, timeout."""
    options = parse_options(option)
    wanted = route.removeprefix("http://").removeprefix("https://").rstrip("/")
    with client() as api:
        matches = [r for r in api.routes() if r["url"] == wanted]
        if not matches:
            raise CliError(f"no route {wanted}; `yun routes` lists them")
        updated = api.update_route(matches[0]["guid"], options)
    console.print(f"Route {updated['url']}: {_describe(updated['options'])}")
