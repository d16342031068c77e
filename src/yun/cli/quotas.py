"""Quota commands, as the cf CLI names them: `yun quotas`, `create-quota`, `update-quota`,
`delete-quota`, `set-org-quota ORG QUOTA`, `set-space-quota SPACE QUOTA` (in the targeted org),
`unset-org-quota`, `unset-space-quota`; and `yun org ORG`, `yun space SPACE`, which show the
quotas held with what is in use of them."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from yun.cli.options import JsonOpt
from yun.cli.orgs import OrgArg, OrgOpt, SpaceArg, targeted_org
from yun.cli.output import CliError, Listing, console, print_json
from yun.cli.session import client
from yun.manifest import parse_size

QuotaArg = Annotated[str, typer.Argument(metavar="QUOTA", help="The quota's name.")]
MemoryOpt = Annotated[
    str | None,
    typer.Option(
        "-m", "--memory", metavar="SIZE", help="Memory of all started instances, e.g. 4G."
    ),
]
InstanceMemoryOpt = Annotated[
    str | None,
    typer.Option(
        "-i", "--instance-memory", metavar="SIZE", help="Memory of one instance, e.g. 1G."
    ),
]
InstancesOpt = Annotated[
    int | None, typer.Option("-a", "--instances", metavar="N", min=-1, help="Started instances.")
]
RoutesOpt = Annotated[
    int | None, typer.Option("-r", "--routes", metavar="N", min=-1, help="Routes.")
]
ServicesOpt = Annotated[
    int | None,
    typer.Option("-s", "--services", metavar="N", min=-1, help="Managed service instances."),
]
TcpPortsOpt = Annotated[
    int | None, typer.Option("--tcp-ports", metavar="N", min=-1, help="TCP router ports.")
]
LIMITS = (
    ("memory_mb", "memory"),
    ("instance_memory_mb", "instance memory"),
    ("instances", "instances"),
    ("routes", "routes"),
    ("services", "services"),
    ("tcp_ports", "TCP ports"),
)


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False)


def _megabytes(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    if text.strip() in ("-1", "unlimited"):
        return -1
    try:
        return parse_size(text)
    except ValueError as exc:
        raise CliError(f"{option}: {exc} (or -1 for no limit)") from None


def _limits(
    memory: str | None,
    instance_memory: str | None,
    instances: int | None,
    routes: int | None,
    services: int | None,
    tcp_ports: int | None,
) -> dict[str, int]:
    given = {
        "memory_mb": _megabytes(memory, "--memory"),
        "instance_memory_mb": _megabytes(instance_memory, "--instance-memory"),
        "instances": instances,
        "routes": routes,
        "services": services,
        "tcp_ports": tcp_ports,
    }
    return {key: value for key, value in given.items() if value is not None}


def _amount(key: str, value: Any) -> str:
    if value is None:
        return "unlimited"
    if key.endswith("memory_mb") and value:
        return f"{value // 1024}G" if value % 1024 == 0 else f"{value}M"
    return str(value)


def quotas(json_: JsonOpt = False) -> None:
    """List the quotas and their limits."""
    with client() as api:
        found = api.quotas()
    if json_:
        print_json(found)
        return
    table = Listing("name", *(label for _, label in LIMITS))
    for quota in found:
        table.add_row(quota["name"], *(_amount(key, quota[key]) for key, _ in LIMITS))
    console.print(table)


def create_quota(
    name: QuotaArg,
    memory: MemoryOpt = None,
    instance_memory: InstanceMemoryOpt = None,
    instances: InstancesOpt = None,
    routes: RoutesOpt = None,
    services: ServicesOpt = None,
    tcp_ports: TcpPortsOpt = None,
) -> None:
    """Create a quota (admins); a limit not given, or -1, is no limit.

    Examples:
       yun create-quota small --memory 4G --instance-memory 1G --instances 20
       yun create-quota team -m 16G -a 100 --routes 50 --services 10 --tcp-ports 2
    """
    limits = _limits(memory, instance_memory, instances, routes, services, tcp_ports)
    with client() as api:
        api.create_quota(name, limits)
    _say(f"Created quota {name}. Hold an org to it: yun set-org-quota ORG {name}")


def update_quota(
    name: QuotaArg,
    memory: MemoryOpt = None,
    instance_memory: InstanceMemoryOpt = None,
    instances: InstancesOpt = None,
    routes: RoutesOpt = None,
    services: ServicesOpt = None,
    tcp_ports: TcpPortsOpt = None,
) -> None:
    """Change the limits given of a quota (admins); -1 lifts one."""
    limits = _limits(memory, instance_memory, instances, routes, services, tcp_ports)
    if not limits:
        raise CliError("give at least one limit to change, e.g. --memory 8G")
    with client() as api:
        api.update_quota(name, limits)
    _say(f"Updated quota {name}.")


def delete_quota(name: QuotaArg) -> None:
    """Delete a quota that no org or space holds (admins)."""
    with client() as api:
        api.delete_quota(name)
    _say(f"Deleted quota {name}.")


def set_org_quota(org: OrgArg, quota: QuotaArg) -> None:
    """Hold an org to a quota (admins): all its spaces together."""
    with client() as api:
        api.set_quota(org, None, quota)
    _say(f"Org {org} is held to quota {quota}.")


def unset_org_quota(org: OrgArg) -> None:
    """Free an org of its quota (admins)."""
    with client() as api:
        api.set_quota(org, None, None)
    _say(f"Org {org} is held to no quota.")


def set_space_quota(space: SpaceArg, quota: QuotaArg, org: OrgOpt = "") -> None:
    """Hold a space of the targeted org to a quota (admins and OrgManagers), within its org's."""
    owner = targeted_org(org)
    with client() as api:
        api.set_quota(owner, space, quota)
    _say(f"Space {space} of org {owner} is held to quota {quota}.")


def unset_space_quota(space: SpaceArg, org: OrgOpt = "") -> None:
    """Free a space of its own quota (its org's still holds)."""
    owner = targeted_org(org)
    with client() as api:
        api.set_quota(owner, space, None)
    _say(f"Space {space} of org {owner} is held to no quota of its own.")


def _held(rows: list[dict[str, Any]]) -> None:
    if not rows:
        _say("quota: none")
        return
    table = Listing("quota", "of", *(label for _, label in LIMITS))
    for row in rows:
        used = row["used"]
        cells = []
        for key, _ in LIMITS:
            limit = _amount(key, row[key])
            cells.append(
                limit
                if key == "instance_memory_mb"
                else f"{_amount(key, used[key]).replace('unlimited', '0')} of {limit}"
            )
        table.add_row(row["name"], row["where"], *cells)
    console.print(table)


def org(name: OrgArg, json_: JsonOpt = False) -> None:
    """Show an org: its spaces, its quota and what its spaces use of it."""
    with client() as api:
        found = api.org(name)
    if json_:
        print_json(found)
        return
    _say(f"org:    {found['name']}")
    _say(f"spaces: {', '.join(found['spaces']) or '-'}")
    quota = found.get("quota")
    _held([{**quota, "where": f"org {name}", "used": found["used"]}] if quota else [])


def space(name: SpaceArg, org: OrgOpt = "", json_: JsonOpt = False) -> None:
    """Show a space: what it holds, and the quotas it is held to (its own, its org's)."""
    owner = targeted_org(org)
    with client() as api:
        found = api.space(owner, name)
    if json_:
        print_json(found)
        return
    _say(f"space:    {found['name']} (org {owner})")
    _say(f"apps:     {found['apps']}   routes: {found['routes']}   services: {found['services']}")
    _say(f"runtime:  {found.get('runtime') or 'runc'}")
    _held(list(found.get("quotas") or []))
