"""Route commands: `yun routes`, `yun update-route` (a route's traffic policy), and `yun
create-route` / `yun delete-route`: HTTP routes (`route_verbs`), or with --tcp TCP routes
(Stackato's harbor)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape

from yun.cli.options import JsonOpt
from yun.cli.output import CliError, Listing, console, errors, print_json
from yun.cli.route_verbs import HostOpt, PathOpt, create_http_route, delete_http_route
from yun.cli.session import client
from yun.client import ApiError

OPTIONS = {
    "loadbalancing": "round-robin, least-connection or hash",
    "hash_header": "the header whose value picks the instance (with loadbalancing=hash)",
    "sticky": "true or false: JSESSIONID keeps a client on its instance",
    "timeout": "seconds an instance may take to answer",
    "https_redirect": "true or false: plain HTTP requests are sent to HTTPS (301)",
    "hsts": "true or false: HTTPS answers carry Strict-Transport-Security",
    "protocol": "http1 or http2: how the router speaks to the app (http2: h2c, for gRPC)",
    "rate_limit": "N/PERIOD, e.g. 100/1s: requests per client address per window (429 past it)",
    "max_body": "a size, e.g. 10m: larger request bodies get 413",
    "allow": "addresses or CIDR blocks (commas): only these clients are served",
    "deny": "addresses or CIDR blocks (commas): these clients get 403",
    "jwt_jwks": "@FILE (a JWKS) or its https:// address: requests need a bearer token it signed",
    "jwt_claims": "claims (commas, default sub) the app gets as X-Jwt-<Claim> headers",
    "api_keys": "true or false: requests need one of the route's keys (yun create-api-key)",
    "route_service": "a URL: requests go through this route service first (Cloud Foundry's)",
    "cors": "* or origins (commas): browsers there may call the route (preflights answered)",
    "circuit_breaker": "N or N/COOLDOWN, e.g. 5/30s: an instance failing N in a row is taken out",
    "retries": "0 to 10: attempts after a failed connection (idempotent requests: 5xx too)",
}
FLAGS = ("sticky", "https_redirect", "hsts", "api_keys")


def _describe(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(options.items()))


def routes(json_: JsonOpt = False) -> None:
    """List routes (HTTP and TCP), the apps they reach and their traffic policy."""
    with client() as api:
        found = api.routes()
        tcp = api.tcp_routes()
    if json_:
        print_json(found + tcp)
        return
    if not found and not tcp:
        console.print("No routes yet.")
        return
    table = Listing("route", "apps", "options")
    for route in found:
        table.add_row(route["url"], ", ".join(route["apps"]), _describe(route["options"]))
    for route in tcp:
        table.add_row(route["url"], route["app"], f"name={route['name']}")
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
        if key in FLAGS:
            if value.lower() not in ("true", "false"):
                raise CliError(f"--option {pair!r}: {key} is true or false")
            parsed[key] = value.lower() == "true"
        elif key == "timeout":
            try:
                parsed[key] = float(value.removesuffix("s"))
            except ValueError:
                raise CliError(f"--option {pair!r}: timeout is a number of seconds") from None
        elif key == "jwt_jwks" and value.startswith("@"):
            try:
                parsed[key] = Path(value[1:]).expanduser().read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CliError(f"--option jwt_jwks: cannot read {value[1:]}: {exc}") from None
        elif key == "protocol":
            if value.lower() not in ("http1", "http2"):
                raise CliError(f"--option {pair!r}: protocol is http1 or http2")
            parsed[key] = value.lower()
        else:
            parsed[key] = value
    return parsed


def find_route(api: Any, route: str) -> dict[str, Any]:
    """The route a user wrote (`myapp.apps.localhost/api`, with or without a scheme)."""
    wanted = route.removeprefix("http://").removeprefix("https://").rstrip("/")
    matches = [r for r in api.routes() if r["url"] == wanted]
    if not matches:
        raise CliError(f"no route {wanted}; `yun routes` lists them")
    return dict(matches[0])


def update_route(
    route: Annotated[str, typer.Argument(help="The route, e.g. myapp.apps.localhost/api.")],
    option: Annotated[
        list[str],
        typer.Option(
            "--option",
            "-o",
            metavar="KEY=VALUE",
            help="A policy setting: loadbalancing, hash_header, sticky, timeout,"
            " https_redirect, hsts, protocol, rate_limit, max_body, allow, deny, jwt_jwks,"
            " jwt_claims, api_keys, cors, circuit_breaker, retries or route_service"
            " (repeatable; an empty value takes a gateway setting off).",
        ),
    ],
) -> None:
    """Set a route's traffic policy: loadbalancing, hash_header, sticky, timeout,
    https_redirect, hsts, and protocol (http2 for apps that speak h2c, such as gRPC servers);
    and its gateway: rate_limit (per client address), max_body, allow and deny, and JWT
    (jwt_jwks: a JWKS file or address; jwt_claims: the claims passed on as headers),
    api_keys (true: requests need one of the keys `yun create-api-key` makes), cors,
    circuit_breaker (N failures in a row take an instance out for a cool-down), retries,
    and route_service (a Cloud Foundry route service's URL).

    Examples:
      yun update-route myapp.apps.localhost -o loadbalancing=least-connection
      yun update-route myapp.apps.localhost -o loadbalancing=hash -o hash_header=X-User
      yun update-route myapp.apps.localhost -o sticky=true -o timeout=30
      yun update-route greeter.apps.localhost -o protocol=http2
      yun update-route api.apps.localhost -o rate_limit=100/1s -o max_body=1m
      yun update-route admin.apps.localhost -o allow=10.0.0.0/8,192.0.2.7
      yun update-route api.apps.localhost -o rate_limit=
      yun update-route api.apps.localhost -o jwt_jwks=@jwks.json -o jwt_claims=sub,email
      yun update-route api.apps.localhost -o jwt_jwks=https://id.example.com/jwks.json
      yun update-route api.apps.localhost -o api_keys=true -o cors=https://shop.example.com
      yun update-route api.apps.localhost -o circuit_breaker=5/30s -o retries=2
      yun update-route api.apps.localhost -o route_service=https://gate.apps.localhost/check
    """
    options = parse_options(option)
    with client() as api:
        updated = api.update_route(find_route(api, route)["guid"], options)
    console.print(f"Route {updated['url']}: {_describe(updated['options'])}")


TcpOpt = Annotated[bool, typer.Option("--tcp", help="A TCP route: a port of the router.")]
TcpNameOpt = Annotated[
    str,
    typer.Option(
        "--name",
        metavar="NAME",
        help="Which port of the app: it listens on $STACKATO_HARBOR_<NAME>.",
    ),
]


TargetArg = Annotated[
    str, typer.Argument(metavar="DOMAIN|APP", help="The domain; with --tcp, the app.")
]


def create_route(
    target: TargetArg,
    hostname: HostOpt = "",
    path: PathOpt = "",
    tcp: TcpOpt = False,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            metavar="PORT",
            help="With --tcp: this router port (1-65535), else the lowest free one.",
        ),
    ] = None,
    name: TcpNameOpt = "tcp",
) -> None:
    """Reserve a route for this space (map it with map-route); with --tcp, give an app a TCP
    route: a router port forwarded to its instances.

    Examples:
      yun create-route example.com --hostname www --path /api
      yun create-route myapp --tcp --port 9000
    """
    if not tcp:
        if port is not None:
            usage_error("--port is for TCP routes: add --tcp")
        create_http_route(target, hostname, path)
        return
    if hostname or path:
        usage_error("--hostname and --path are for HTTP routes; a TCP route is a port")
    with client() as api:
        found = api.find_app(target)
        try:
            route = api.create_tcp_route(found["guid"], name=name, port=port)
        except ApiError as exc:
            if exc.status == 422:  # the name or port given does not fit
                usage_error(str(exc))
            raise
        own = [r for r in api.tcp_routes() if r["app_guid"] == found["guid"]]
    variable = "$STACKATO_HARBOR" if len(own) == 1 else f"${harbor_name(name)}"
    console.print(
        f"TCP route {route['url']} → {route['app']} (name {route['name']}; the app listens"
        f" on {variable})."
    )
    if route.get("deployment"):
        from yun.cli.deploying import wait_released

        wait_released(found["name"], after=0.0, deploying=True)


def delete_route(
    target: TargetArg,
    hostname: HostOpt = "",
    path: PathOpt = "",
    force: Annotated[
        bool, typer.Option("-f", "--force", help="Do not ask (nothing is asked anyway).")
    ] = False,
    tcp: TcpOpt = False,
    name: TcpNameOpt = "tcp",
) -> None:
    """Delete a route and its mappings; with --tcp, an app's TCP route.

    Examples:
      yun delete-route example.com --hostname www -f
      yun delete-route myapp --tcp
    """
    if not tcp:
        delete_http_route(target, hostname, path)
        return
    with client() as api:
        found = api.find_app(target)
        matches = [
            r for r in api.tcp_routes() if r["app_guid"] == found["guid"] and r["name"] == name
        ]
        if not matches:
            raise CliError(f"app {target} has no TCP route named {name}; `yun routes` lists them")
        api.delete_tcp_route(matches[0]["guid"])
    console.print(f"Deleted TCP route {matches[0]['url']} of {target}.")


def usage_error(message: str) -> NoReturn:
    """A mistake in the command line: one line on stderr, exit status 2 (as click's own)."""
    errors.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2)


def harbor_name(name: str) -> str:
    """The variable an app reads a named TCP route's port from (as the agent sets it)."""
    return "STACKATO_HARBOR_" + re.sub(r"[^A-Z0-9]", "_", name.upper())
