"""Pipelines and promotion: `yun create-pipeline`, `pipelines`, `pipeline`, `delete-pipeline`,
`promote`."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from yun.cli import config as cli_config
from yun.cli.options import JsonOpt
from yun.cli.output import CliError, ForceOpt, Listing, confirm_delete, console, print_json
from yun.cli.session import client

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The pipeline's name.")]
POLL = 0.5
PROMOTE_TIMEOUT = 3900.0  # seconds: a test suite may take an hour


def _org() -> str:
    org = cli_config.load().org
    if not org:
        raise CliError("no org targeted; run `yun target -o ORG` first")
    return org


def create_pipeline(
    name: NameArg,
    stages: Annotated[
        str, typer.Option("--stages", metavar="SPACES", help="Spaces in order: dev,staging,prod.")
    ],
) -> None:
    """Make a pipeline of the targeted org's spaces, in the order apps move through them.

    Examples:
      yun create-pipeline shop --stages dev,staging,prod
      yun promote web --from dev --to staging --test
    """
    spaces = [part.strip() for part in stages.split(",") if part.strip()]
    if len(spaces) < 2:
        raise CliError("--stages: name two spaces or more, in order, like dev,staging,prod")
    with client() as api:
        made = api.create_pipeline(_org(), name, spaces)
    console.print(
        f"Pipeline {made['name']}: {' → '.join(s['space'] for s in made['stages'])}",
        markup=False,
        highlight=False,
    )


def pipelines(json_: JsonOpt = False) -> None:
    """List the pipelines of the orgs you can see."""
    with client() as api:
        found = api.pipelines()
    if json_:
        print_json(found)
        return
    if not found:
        console.print("No pipelines (`yun create-pipeline NAME --stages dev,staging,prod`).")
        return
    table = Listing("name", "org", "stages")
    for item in found:
        table.add_row(item["name"], item["org"], " → ".join(s["space"] for s in item["stages"]))
    console.print(table)


def pipeline(name: NameArg, json_: JsonOpt = False) -> None:
    """Show which revision (and droplet) every app runs at each stage of a pipeline."""
    with client() as api:
        found = api.find_pipeline(name, _org())
    if json_:
        print_json(found)
        return
    table = Listing("stage", "app", "state", "revision", "droplet", "commit")
    for stage in found["stages"]:
        if not stage["apps"]:
            table.add_row(stage["space"], "", "", "", "", "")
        for app in stage["apps"]:
            table.add_row(
                stage["space"],
                app["name"],
                app["state"].lower(),
                str(app["revision"] or ""),
                (app["droplet"] or "")[:19],
                (app["commit"] or "")[:12],
            )
    console.print(table)


def delete_pipeline(name: NameArg, force: ForceOpt = False) -> None:
    """Delete a pipeline (its spaces and apps stay)."""
    if not confirm_delete(f"pipeline {name}", force=force):
        return
    with client() as api:
        api.delete_pipeline(api.find_pipeline(name, _org())["guid"])
    console.print(f"Deleted pipeline {name}.", markup=False, highlight=False)


def promote(
    name: Annotated[str, typer.Argument(metavar="APP")],
    from_space: Annotated[str, typer.Option("--from", metavar="SPACE", help="Where it runs now.")],
    to_space: Annotated[str, typer.Option("--to", metavar="SPACE", help="Where it goes.")],
    test: Annotated[
        bool,
        typer.Option("--test", help="Run the app's test command on the droplet first."),
    ] = False,
) -> None:
    """Move the droplet APP runs in one space to the APP of another (made if need be), without
    a rebuild: the same droplet, with the target space's env, services and routes.

    With --test, the app's `test` command (a Procfile `test:` line, or a test process in its
    manifest) runs on the droplet first; if it fails, nothing is promoted.

    Examples:
      yun promote web --from dev --to staging --test
    """
    org = _org()
    with client() as api:
        space = api.space(org, from_space)
        source = api.app_in(space["guid"], name)
        if source is None:
            raise CliError(f"app {name} not found in space {from_space}")
        started = api.promote(source["guid"], to_space=to_space, test=test)
        console.print(
            f"Promoting revision {started['from_revision']} of {name} from {from_space} to"
            f" {to_space}…",
            highlight=False,
        )
        done = _follow(api, source["guid"], started)
    if done["state"] != "PROMOTED":
        raise CliError(f"promotion of {name} failed: {done['reason']}")
    console.print(
        f"Promoted: {name} in {to_space} runs revision {done['to_revision']}.", highlight=False
    )


def _follow(api: Any, guid: str, promotion: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + PROMOTE_TIMEOUT
    while True:
        found = next(p for p in api.promotions(guid) if p["guid"] == promotion["guid"])
        if found["state"] in ("PROMOTED", "FAILED"):
            for line in found["output"]:
                console.print(f"   {line}", markup=False, highlight=False, soft_wrap=True)
            return dict(found)
        if time.monotonic() > deadline:
            raise CliError("the promotion is still under way; see `yun pipeline`")
        time.sleep(POLL)
