"""`yun droplet export NAME`: the app's current build as an image in the platform registry."""

from __future__ import annotations

from typing import Annotated

import typer

from yun.cli.help import YunTyper
from yun.cli.options import JsonOpt
from yun.cli.output import console, print_json
from yun.cli.session import client

droplet_app = YunTyper(help="Work with an app's droplet (its staged build).", no_args_is_help=True)


@droplet_app.command("export")
def export(
    name: Annotated[str, typer.Argument(help="App name.")],
    json_: JsonOpt = False,
) -> None:
    """Export the app's current droplet into the platform registry as an OCI image."""
    with client() as api:
        app = api.find_app(name)
        if not json_:
            console.print(f"Exporting the droplet of [bold]{name}[/] to the platform registry…")
        result = api.export_droplet(app["guid"])
    if json_:
        print_json(result)
        return
    console.print(f"Exported: [bold]{result['image']}[/]")
