"""Org and space commands, as the cf CLI names them: `yun orgs`, `create-org`, `rename-org`,
`delete-org`, `spaces`, `create-space`, `rename-space`, `delete-space`; `yun target -o -s`
(in main) picks the org and space other commands act in."""

from __future__ import annotations

from typing import Annotated

import typer

from yun.cli import config as cli_config
from yun.cli.options import JsonOpt
from yun.cli.output import CliError, ForceOpt, Listing, confirm_delete, console, print_json
from yun.cli.services import delete_all_services
from yun.cli.session import client

OrgArg = Annotated[str, typer.Argument(metavar="ORG", help="The org's name.")]
SpaceArg = Annotated[str, typer.Argument(metavar="SPACE", help="The space's name.")]
OrgOpt = Annotated[
    str, typer.Option("-o", "--org", metavar="ORG", help="The org (default: the targeted one).")
]
RecursiveOpt = Annotated[
    bool,
    typer.Option("--recursive", "-r", help="Delete what it holds too (apps, routes, spaces)."),
]


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False)


def targeted_org(given: str) -> str:
    """The org given with -o, else the targeted one."""
    org = given or cli_config.load().org
    if not org:
        raise CliError("no org targeted; give -o ORG or run `yun target -o ORG`")
    return org


def orgs(json_: JsonOpt = False) -> None:
    """List orgs and their spaces."""
    with client() as api:
        found = api.orgs()
    if json_:
        print_json(found)
        return
    table = Listing("org", "spaces", "default")
    for org in found:
        table.add_row(org["name"], ", ".join(org["spaces"]) or "-", "yes" if org["default"] else "")
    console.print(table)


def create_org(name: OrgArg) -> None:
    """Create an org (admins)."""
    with client() as api:
        api.create_org(name)
    _say(f"Created org {name}. Add a space: yun create-space SPACE -o {name}")


def rename_org(name: OrgArg, new_name: Annotated[str, typer.Argument(metavar="NEW")]) -> None:
    """Rename an org (admins); apps and routes stay where they are."""
    with client() as api:
        api.rename_org(name, new_name)
    config = cli_config.load()
    if config.org == name:
        config.org = new_name
        cli_config.save(config)
    _say(f"Renamed org {name} to {new_name}.")


def delete_org(name: OrgArg, recursive: RecursiveOpt = False, force: ForceOpt = False) -> None:
    """Delete an org (admins): refused while it has spaces, unless --recursive, which deletes
    their service instances (each broker waited for), apps and routes too."""
    what = f"the org {name}" + (" and everything in it" if recursive else "")
    if not confirm_delete(what, force=force):
        return
    with client() as api:
        if recursive:
            for space in api.spaces(name):
                delete_all_services(api, space["guid"])
        gone = api.delete_org(name, recursive=recursive)
    _say(f"Deleted org {name} ({gone['spaces']} space(s), {gone['apps']} app(s)).")


def spaces(org: OrgOpt = "", json_: JsonOpt = False) -> None:
    """List the spaces of an org, with what they hold."""
    with client() as api:
        found = api.spaces(targeted_org(org))
    if json_:
        print_json(found)
        return
    table = Listing("space", "apps", "routes", "services", "runtime")
    for space in found:
        table.add_row(
            space["name"],
            str(space["apps"]),
            str(space["routes"]),
            str(space["services"]),
            space.get("runtime") or "runc",
        )
    console.print(table)


def create_space(name: SpaceArg, org: OrgOpt = "") -> None:
    """Create a space in an org (admins)."""
    owner = targeted_org(org)
    with client() as api:
        api.create_space(owner, name)
    _say(f"Created space {name} in org {owner}. Use it: yun target -o {owner} -s {name}")


def rename_space(
    name: SpaceArg, new_name: Annotated[str, typer.Argument(metavar="NEW")], org: OrgOpt = ""
) -> None:
    """Rename a space (admins); its apps, routes and services stay in it."""
    owner = targeted_org(org)
    with client() as api:
        api.rename_space(owner, name, new_name)
    config = cli_config.load()
    if config.org == owner and config.space == name:
        config.space = new_name
        cli_config.save(config)
    _say(f"Renamed space {name} to {new_name} in org {owner}.")


def delete_space(
    name: SpaceArg, org: OrgOpt = "", recursive: RecursiveOpt = False, force: ForceOpt = False
) -> None:
    """Delete a space (admins and OrgManagers): refused while it holds anything, unless
    --recursive, which deletes its service instances (unbinding them, each broker waited for),
    then its apps and routes."""
    owner = targeted_org(org)
    held = " and its services, apps and routes" if recursive else ""
    if not confirm_delete(f"the space {name} of org {owner}{held}", force=force):
        return
    with client() as api:
        if recursive:
            delete_all_services(api, api.space(owner, name)["guid"])
        gone = api.delete_space(owner, name, recursive=recursive)
    config = cli_config.load()
    if config.org == owner and config.space == name:
        config.space, config.space_guid = "", ""
        cli_config.save(config)
    _say(f"Deleted space {name} of org {owner} ({gone['apps']} app(s)).")


def set_space_runtime(
    org: Annotated[str, typer.Argument(metavar="ORG", help="The space's org.")],
    space: Annotated[str, typer.Argument(metavar="SPACE", help="The space.")],
    runtime: Annotated[
        str,
        typer.Argument(
            metavar="RUNTIME",
            help="gvisor (gVisor's own kernel between the app and the host's, for code you"
            " do not trust) or runc (the default).",
        ),
    ],
) -> None:
    """Choose what the space's apps run under (admins and OrgManagers), from each app's next
    restart or push. An app's manifest may ask for gvisor in a runc space (`runtime:
    gvisor`), never the other way round.

    Examples:
      yun set-space-runtime main untrusted gvisor
      yun set-space-runtime main untrusted runc
    """
    with client() as api:
        result = api.set_space_runtime(org, space, runtime)
    _say(f"Space {org}/{space} now runs its apps under {runtime}.")
    pending = result.get("apps_to_restart") or []
    if pending:
        names = ", ".join(pending)
        _say(f"Restart these apps for it to take effect (yun restart APP): {names}")
