"""Application security groups as the cf CLI has them: `yun security-groups`,
`security-group`, `create-security-group`, `update-security-group`, `delete-security-group`,
`bind-security-group`, `unbind-security-group`, and the running defaults that hold in every
space (`running-security-groups`, `bind-running-security-group`,
`unbind-running-security-group`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from yun.cli.options import JsonOpt
from yun.cli.output import CliError, ForceOpt, Listing, confirm_delete, console, print_json
from yun.cli.session import client
from yun.client.networking import NetworkingClient

NameArg = Annotated[str, typer.Argument(metavar="SECURITY_GROUP", help="The group's name.")]
RulesArg = Annotated[
    str, typer.Argument(metavar="RULES_FILE", help="A JSON file with the list of rules.")
]
OrgArg = Annotated[str, typer.Argument(metavar="ORG", help="The org.")]


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False)


def read_rules(path: str) -> list[Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            rules = json.load(handle)
    except OSError as exc:
        raise CliError(f"RULES_FILE: cannot read {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"RULES_FILE: {path} is not valid JSON ({exc})") from None
    if not isinstance(rules, list):
        raise CliError(f"RULES_FILE: {path} must hold a JSON list of rules, [{{...}}, ...]")
    return rules


def _rule_text(rule: dict[str, Any]) -> str:
    words = [str(rule.get("protocol", "")), str(rule.get("destination", ""))]
    if rule.get("ports"):
        words.append(f"ports {rule['ports']}")
    for key in ("type", "code"):
        if rule.get(key) not in (None, -1):
            words.append(f"{key} {rule[key]}")
    if rule.get("description"):
        words.append(f"({rule['description']})")
    return " ".join(words)


def security_groups(json_: JsonOpt = False) -> None:
    """List the security groups and where they are bound."""
    with client() as api:
        found = NetworkingClient(api).security_groups()
    if json_:
        print_json(found)
        return
    table = Listing("name", "rules", "bound to")
    for group in found:
        where = [f"{s['org']}/{s['space']}" for s in group["spaces"]]
        if group["running_default"]:
            where.insert(0, "every space (running)")
        table.add_row(group["name"], str(len(group["rules"])), ", ".join(where) or "-")
    console.print(table if found else "No security groups.")


def security_group(name: NameArg, json_: JsonOpt = False) -> None:
    """Show a security group's rules and the spaces it is bound to."""
    with client() as api:
        group = NetworkingClient(api).security_group(name)
    if json_:
        print_json(group)
        return
    _say(f"name:            {group['name']}")
    running = "yes (every space)" if group["running_default"] else "no"
    _say(f"running default: {running}")
    _say("rules:")
    for rule in group["rules"]:
        _say(f"  {_rule_text(rule)}")
    _say("spaces:")
    for space in group["spaces"]:
        _say(f"  {space['org']}/{space['space']}")


def create_security_group(name: NameArg, rules: RulesArg) -> None:
    """Make a security group from a JSON file of Cloud Foundry rules.

    Each rule: protocol (tcp, udp, icmp or all), destination (an address, a CIDR block, a
    range FIRST-LAST, or a comma list of those), ports for tcp and udp (443, 80,443 or
    8000-9000), type and code for icmp, and an optional description. Bind it to spaces with
    `yun bind-security-group`; running instances of a space reach beyond the bridge only
    what the groups bound to it (and the running defaults) allow.

    Examples:
      echo '[{"protocol":"tcp","destination":"10.0.11.0/24","ports":"5432"}]' > db.json
      yun create-security-group billing-db db.json
    """
    listed = read_rules(rules)
    with client() as api:
        made = NetworkingClient(api).create_security_group(name, listed)
    _say(f"Created security group {made['name']} ({len(made['rules'])} rules).")


def update_security_group(name: NameArg, rules: RulesArg) -> None:
    """Replace a security group's rules (running instances follow within moments)."""
    listed = read_rules(rules)
    with client() as api:
        made = NetworkingClient(api).update_security_group(name, listed)
    _say(f"Updated security group {made['name']} ({len(made['rules'])} rules).")


def delete_security_group(name: NameArg, force: ForceOpt = False) -> None:
    """Delete a security group (its bindings go with it)."""
    if not confirm_delete(f"security group {name}", force=force):
        return
    with client() as api:
        NetworkingClient(api).delete_security_group(name)
    _say(f"Deleted security group {name}.")


def _spaces_of(net: NetworkingClient, org: str, space: str) -> list[str]:
    if space:
        return [space]
    return [s["name"] for s in net.api.spaces(org)]


def bind_security_group(
    name: NameArg,
    org: OrgArg,
    space: Annotated[
        str, typer.Option("--space", metavar="SPACE", help="Only this space (default: all).")
    ] = "",
) -> None:
    """Hold the running instances of ORG's spaces (or one of them) to a security group.

    Examples:
      yun bind-security-group billing-db acme --space prod
    """
    with client() as api:
        net = NetworkingClient(api)
        spaces = _spaces_of(net, org, space)
        if not spaces:
            raise CliError(f"org {org} has no spaces to bind {name} to")
        for each in spaces:
            net.bind_security_group(name, org, each, on=True)
    _say(f"Bound security group {name} to {', '.join(f'{org}/{s}' for s in spaces)}.")


def unbind_security_group(
    name: NameArg,
    org: OrgArg,
    space: Annotated[str, typer.Argument(metavar="SPACE", help="The space.")],
) -> None:
    """Take a security group away from a space's running instances."""
    with client() as api:
        NetworkingClient(api).bind_security_group(name, org, space, on=False)
    _say(f"Unbound security group {name} from {org}/{space}.")


def running_security_groups(json_: JsonOpt = False) -> None:
    """List the security groups that hold in every space."""
    with client() as api:
        found = [g for g in NetworkingClient(api).security_groups() if g["running_default"]]
    if json_:
        print_json(found)
        return
    for group in found:
        _say(group["name"])
    if not found:
        _say("No running security groups: instances reach only what groups bound to spaces allow.")


def bind_running_security_group(name: NameArg) -> None:
    """Make a security group hold for the running instances of every space."""
    with client() as api:
        NetworkingClient(api).running_default(name, on=True)
    _say(f"Security group {name} now holds in every space.")


def unbind_running_security_group(name: NameArg) -> None:
    """Stop a security group from holding in every space (spaces it is bound to keep it)."""
    with client() as api:
        NetworkingClient(api).running_default(name, on=False)
    _say(f"Security group {name} no longer holds in every space.")
