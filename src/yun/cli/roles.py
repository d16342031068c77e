"""Role commands, with the cf CLI's names and argument orders: `yun set-org-role USER ORG ROLE`,
`unset-org-role`, `set-space-role USER ORG SPACE ROLE`, `unset-space-role`, `org-users ORG`,
`space-users ORG SPACE`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from yun.cli.options import JsonOpt
from yun.cli.orgs import OrgArg, SpaceArg
from yun.cli.output import Listing, console, print_json
from yun.cli.session import client

UserArg = Annotated[str, typer.Argument(metavar="USER", help="The user's name.")]
OrgRoleArg = Annotated[
    str, typer.Argument(metavar="ROLE", help="OrgManager, OrgAuditor or OrgUser.")
]
SpaceRoleArg = Annotated[
    str,
    typer.Argument(
        metavar="ROLE", help="SpaceManager, SpaceDeveloper, SpaceAuditor or SpaceSupporter."
    ),
]


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False)


def _show(found: list[dict[str, Any]], json_: bool) -> None:
    if json_:
        print_json(found)
        return
    table = Listing("role", "user")
    for row in found:
        table.add_row(row["role"], row["user"])
    console.print(table)


def org_users(org: OrgArg, json_: JsonOpt = False) -> None:
    """List who has which role in an org (OrgManager, OrgAuditor, OrgUser)."""
    with client() as api:
        _show(api.members(org), json_)


def space_users(org: OrgArg, space: SpaceArg, json_: JsonOpt = False) -> None:
    """List who has which role in a space (SpaceManager, SpaceDeveloper, SpaceAuditor,
    SpaceSupporter)."""
    with client() as api:
        _show(api.members(org, space), json_)


def set_org_role(user: UserArg, org: OrgArg, role: OrgRoleArg) -> None:
    """Give a user a role in an org (admins and the org's OrgManagers).

    Examples:
       yun set-org-role alice acme OrgManager
    """
    with client() as api:
        done = api.set_role(user, org, None, role)
    had = "" if done["changed"] else " (they had it already)"
    _say(f"{user} is {done['role']} of org {org}{had}.")


def unset_org_role(user: UserArg, org: OrgArg, role: OrgRoleArg) -> None:
    """Take a role in an org away from a user (OrgUser goes last, after their space roles)."""
    with client() as api:
        done = api.set_role(user, org, None, role, on=False)
    had = "" if done["changed"] else " (they did not have it)"
    _say(f"{user} is no longer {done['role']} of org {org}{had}.")


def set_space_role(user: UserArg, org: OrgArg, space: SpaceArg, role: SpaceRoleArg) -> None:
    """Give a user a role in a space (admins, the org's OrgManagers and the space's
    SpaceManagers); a user not yet in the org becomes an OrgUser of it.

    Examples:
       yun set-space-role alice acme prod SpaceDeveloper
    """
    with client() as api:
        done = api.set_role(user, org, space, role)
    if done["org_user_added"]:
        _say(f"{user} is now OrgUser of org {org}.")
    had = "" if done["changed"] else " (they had it already)"
    _say(f"{user} is {done['role']} of space {space} in org {org}{had}.")


def unset_space_role(user: UserArg, org: OrgArg, space: SpaceArg, role: SpaceRoleArg) -> None:
    """Take a role in a space away from a user."""
    with client() as api:
        done = api.set_role(user, org, space, role, on=False)
    had = "" if done["changed"] else " (they did not have it)"
    _say(f"{user} is no longer {done['role']} of space {space} in org {org}{had}.")
