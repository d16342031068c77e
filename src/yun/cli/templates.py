"""The app store: `yun templates` and `yun create-app-from-template`."""

from __future__ import annotations

from typing import Annotated

import typer

from yun.cli.deploying import wait_released
from yun.cli.options import JsonOpt
from yun.cli.output import Listing, console, print_json
from yun.cli.pushing import stage_and_follow
from yun.cli.services import wait_bindings
from yun.cli.session import client


def templates(json_: JsonOpt = False) -> None:
    """List the app templates: what each makes and which services it needs."""
    with client() as api:
        found = api.templates()
    if json_:
        print_json(found)
        return
    table = Listing("template", "services", "description")
    for item in found:
        services = ", ".join(f"{s['name']} ({s['offering']})" for s in item["services"])
        table.add_row(item["name"], services, item["description"])
    console.print(table)


def create_app_from_template(
    template: Annotated[
        str, typer.Argument(metavar="TEMPLATE", help="`yun templates` lists them.")
    ],
    name: Annotated[str, typer.Argument(metavar="NAME", help="The new app's name.")],
    no_start: Annotated[
        bool, typer.Option("--no-start", help="Stage it, do not start it.")
    ] = False,
) -> None:
    """Make an app from a template: its files, manifest settings, route and cron jobs, and
    the services it needs (made as NAME-SERVICE and bound); then stage and start it.

    Examples:
      yun templates
      yun create-app-from-template flask-postgres blog
    """
    with client() as api:
        made = api.create_from_template(template, name, start=not no_start)
        app = made["app"]
        console.print(f"Creating app [bold]{name}[/] from template {template}")
        for service in made["template"]["services"]:
            console.print(
                f"   service {name}-{service['name']} ({service['offering']})", highlight=False
            )
        wait_bindings(api, list(made.get("pending_bindings") or []))
        build = api.create_build(made["package"]["guid"], start=not no_start, release={})
        stage_and_follow(api, app["guid"], build)
    if no_start:
        console.print(f"App {name} staged; start it with `yun start {name}`.")
        return
    wait_released(name, after=float(build["created_at"]))
