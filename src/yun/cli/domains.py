"""Domain commands, named as the cf CLI names them: `yun domains`, `yun create-shared-domain`,
`yun create-private-domain`, `yun delete-shared-domain`, `yun delete-private-domain`."""

from __future__ import annotations

from typing import Annotated

import typer

from yun.cli.options import JsonOpt
from yun.cli.output import CliError, Listing, console, print_json
from yun.cli.session import client

DomainArg = Annotated[str, typer.Argument(help="The domain, e.g. example.com.")]
ForceOpt = Annotated[
    bool, typer.Option("-f", "--force", help="Delete its routes too, if any use it.")
]


def domains(json_: JsonOpt = False) -> None:
    """List domains: shared (every org routes on them) and private (one org's)."""
    with client() as api:
        found = api.domains()
    if json_:
        print_json(found)
        return
    table = Listing("name", "availability", "org", "details", "routes")
    for domain in found:
        details = ", ".join(
            word
            for word, on in (("default", domain["default"]), ("internal", domain["internal"]))
            if on
        )
        table.add_row(
            domain["name"], domain["type"], domain["org"] or "", details, str(domain["routes"])
        )
    console.print(table)


def create_shared_domain(
    domain: DomainArg,
    internal: Annotated[
        bool,
        typer.Option("--internal", help="For app-to-app names only; the router does not serve it."),
    ] = False,
) -> None:
    """Create a domain every org may make routes on.

    Examples:
      yun create-shared-domain example.com
      yun map-route myapp example.com --hostname www
    """
    with client() as api:
        made = api.create_domain(domain, internal=internal)
    console.print(f"Created shared domain {made['name']}{' (internal)' * internal}.")


def create_private_domain(
    org: Annotated[str, typer.Argument(help="The org that owns it (see `yun target`).")],
    domain: DomainArg,
) -> None:
    """Create a domain only one org may make routes on.

    Examples:
      yun create-private-domain main example.com
      yun map-route myapp example.com
    """
    with client() as api:
        made = api.create_domain(domain, org=org)
    console.print(f"Created private domain {made['name']} for org {made['org']}.")


def delete_shared_domain(domain: DomainArg, force: ForceOpt = False) -> None:
    """Delete a shared domain (refused while routes use it, unless -f)."""
    _delete(domain, kind="shared", force=force)


def delete_private_domain(domain: DomainArg, force: ForceOpt = False) -> None:
    """Delete a private domain (refused while routes use it, unless -f)."""
    _delete(domain, kind="private", force=force)


def _delete(name: str, *, kind: str, force: bool) -> None:
    with client() as api:
        found = [d for d in api.domains() if d["name"] == name.strip().lower()]
        if not found:
            raise CliError(f"domain {name} not found; `yun domains` lists them")
        if found[0]["type"] != kind:
            other = "private" if kind == "shared" else "shared"
            raise CliError(f"{name} is a {other} domain: use `yun delete-{other}-domain`")
        gone = api.delete_domain(found[0]["name"], force=force)
    routes = f" and its {gone['routes']} route(s)" if gone["routes"] else ""
    console.print(f"Deleted {kind} domain {gone['name']}{routes}.")
