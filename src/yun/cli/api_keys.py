"""API keys of a route: `yun create-api-plan`, `api-plans`, `delete-api-plan`,
`create-api-key`, `api-keys`, `delete-api-key`. A route checks them once it has the option
`api_keys=true` (`yun update-route ROUTE -o api_keys=true`): clients send their key as
`X-Api-Key` (or `?api_key=`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from yun.cli.options import JsonOpt
from yun.cli.output import Listing, console, print_json
from yun.cli.routes import find_route
from yun.cli.session import client
from yun.client.api_keys import ApiKeysClient

RouteArg = Annotated[str, typer.Argument(help="The route, e.g. api.apps.localhost/v1.")]
PlanArg = Annotated[str, typer.Argument(metavar="PLAN", help="The plan's name, e.g. free.")]
KeyArg = Annotated[str, typer.Argument(metavar="KEY_NAME", help="The key's name.")]


def _route_guid(api: Any, route: str) -> str:
    return str(find_route(api, route)["guid"])


def create_api_plan(
    route: RouteArg,
    plan: PlanArg,
    rate_limit: Annotated[
        str,
        typer.Option(
            "--rate-limit", metavar="RATE", help="Requests per window, N/PERIOD: 10/1s (429 past)."
        ),
    ] = "",
    quota: Annotated[
        str,
        typer.Option(
            "--quota",
            metavar="QUOTA",
            help="Requests served per window of at most a day, N/PERIOD: 1000/1d (429 past).",
        ),
    ] = "",
) -> None:
    """Make (or change) a plan of a route's API keys: a rate limit and a quota per key.

    Examples:
      yun create-api-plan api.apps.localhost free --rate-limit 5/1s --quota 1000/1d
      yun create-api-plan api.apps.localhost gold --rate-limit 100/1s
    """
    with client() as api:
        made = ApiKeysClient(api).set_plan(
            _route_guid(api, route), name=plan, rate_limit=rate_limit, quota=quota
        )
    limits = ", ".join(f"{k} {made[k]}" for k in ("rate_limit", "quota") if made[k]) or "no limits"
    console.print(f"Plan {made['name']} of {route}: {limits}")


def api_plans(route: RouteArg, json_: JsonOpt = False) -> None:
    """List the plans of a route's API keys."""
    with client() as api:
        plans = ApiKeysClient(api).plans(_route_guid(api, route))
    if json_:
        print_json(plans)
        return
    if not plans:
        console.print(f"No plans on {route}: `yun create-api-plan` makes one.")
        return
    table = Listing("plan", "rate limit", "quota", "keys")
    for plan in plans:
        table.add_row(
            plan["name"], plan["rate_limit"] or "-", plan["quota"] or "-", str(plan["keys"])
        )
    console.print(table)


def delete_api_plan(route: RouteArg, plan: PlanArg) -> None:
    """Delete a plan that no key is on."""
    with client() as api:
        ApiKeysClient(api).delete_plan(_route_guid(api, route), plan)
    console.print(f"Plan {plan} of {route} deleted.")


def create_api_key(
    route: RouteArg,
    plan: Annotated[
        str, typer.Option("--plan", metavar="PLAN", help="Its plan (none: no limits).")
    ] = "",
    name: Annotated[
        str, typer.Option("--name", metavar="NAME", help="Its name (default key-N).")
    ] = "",
    json_: JsonOpt = False,
) -> None:
    """Make an API key for a route and print it: it is shown this once.

    Examples:
      yun create-api-key api.apps.localhost --plan free --name mobile-app
      KEY=$(yun create-api-key api.apps.localhost --plan free --json | jq -r .key)
    """
    with client() as api:
        guid = _route_guid(api, route)
        made = ApiKeysClient(api).create_key(guid, name=name, plan=plan)
        enforced = bool(find_route(api, route)["options"].get("api_keys"))
    if json_:
        print_json(made)
        return
    console.print(f"API key {made['name']} of {route} (plan {made['plan'] or 'none'}):")
    print(made["key"])
    console.print("Clients send it as the X-Api-Key header; it is not shown again.")
    if not enforced:
        console.print(
            f"The route does not check keys yet: yun update-route {route} -o api_keys=true"
        )


def api_keys(route: RouteArg, json_: JsonOpt = False) -> None:
    """List a route's API keys with what each used in its plan's current windows."""
    with client() as api:
        keys = ApiKeysClient(api).keys(_route_guid(api, route))
    if json_:
        print_json(keys)
        return
    if not keys:
        console.print(f"No API keys on {route}: `yun create-api-key` makes one.")
        return
    table = Listing("name", "key", "plan", "rate", "quota")
    for key in keys:
        usage = key["usage"]
        table.add_row(
            key["name"],
            f"{key['prefix']}…",
            key["plan"] or "-",
            _used(usage.get("rate")),
            _used(usage.get("quota")),
        )
    console.print(table)


def _used(window: dict[str, Any] | None) -> str:
    if not window:
        return "-"
    return f"{window['used']}/{window['limit']} (resets in {window['resets_in']}s)"


def delete_api_key(route: RouteArg, key: KeyArg) -> None:
    """Delete an API key: the router refuses it from then on."""
    with client() as api:
        ApiKeysClient(api).delete_key(_route_guid(api, route), key)
    console.print(f"API key {key} of {route} deleted.")
