"""HTTP route commands as the cf CLI has them: `yun map-route`, `yun unmap-route`, `yun
check-route`, `yun bind-route-service`, `yun unbind-route-service`, and the HTTP forms of `yun
create-route` and `yun delete-route` (their `--tcp` forms are in `routes`). A route is DOMAIN
with an optional `--hostname` and `--path`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from yun.cli.output import CliError, console
from yun.cli.session import client
from yun.client import ApiClient, ApiError

DomainArg = Annotated[str, typer.Argument(help="The domain, e.g. example.com (see `yun domains`).")]
HostOpt = Annotated[
    str,
    typer.Option("--hostname", "-n", metavar="HOST", help="Host name before the domain, e.g. www."),
]
PathOpt = Annotated[
    str, typer.Option("--path", metavar="PATH", help="Path prefix, e.g. /api (the longest wins).")
]


def url(domain: str, host: str, path: str) -> str:
    name = f"{host}.{domain}" if host else domain
    return f"{name.lower()}{normal_path(path)}"


def normal_path(path: str) -> str:
    """`api`, `/api` and `/api/` are the same route path, `/api`."""
    return "/" + path.strip().strip("/") if path.strip().strip("/") else ""


def map_route(
    app: Annotated[str, typer.Argument(help="The app.")],
    domain: DomainArg,
    hostname: HostOpt = "",
    path: PathOpt = "",
) -> None:
    """Send a route's requests to an app (the route is made if it does not exist).

    Examples:
      yun map-route myapp example.com --hostname www
      yun map-route api-app example.com --hostname www --path /api
    """
    with client() as api:
        found = api.find_app(app)
        route = _existing(api, domain, hostname, path)
        made = route is None
        if route is None:
            route = api.create_route(domain=domain, host=hostname, path=normal_path(path))
        try:
            api.map_route(route["guid"], app_guid=found["guid"])
        except ApiError:
            if made:  # a failed map-route leaves no route behind that it made
                api.delete_route(route["guid"])
            raise
    console.print(f"Mapped route {route['url']} to app {found['name']}.")


def unmap_route(
    app: Annotated[str, typer.Argument(help="The app.")],
    domain: DomainArg,
    hostname: HostOpt = "",
    path: PathOpt = "",
) -> None:
    """Stop sending a route's requests to an app (the route stays; see delete-route).

    Examples:
      yun unmap-route myapp example.com --hostname www
    """
    with client() as api:
        found = api.find_app(app)
        route = _existing(api, domain, hostname, path)
        if route is None:
            raise CliError(f"route {url(domain, hostname, path)} does not exist")
        api.unmap_route(route["guid"], app_guid=found["guid"])
    console.print(f"Unmapped route {route['url']} from app {found['name']}.")


def check_route(domain: DomainArg, hostname: HostOpt = "", path: PathOpt = "") -> None:
    """Say whether a route exists (exit status 0 either way, as the cf CLI).

    Examples:
      yun check-route example.com --hostname www
    """
    with client() as api:
        route = _existing(api, domain, hostname, path)
    name = url(domain, hostname, path)
    console.print(f"Route {name} {'does' if route else 'does not'} exist.")


def create_http_route(domain: str, hostname: str, path: str) -> None:
    with client() as api:
        try:
            route = api.create_route(domain=domain, host=hostname, path=normal_path(path))
        except ApiError as exc:
            if exc.status == 409 and str(exc).endswith("in this space"):
                console.print(f"Route {url(domain, hostname, path)} already exists.")
                return
            raise
    console.print(f"Created route {route['url']}.")


def delete_http_route(domain: str, hostname: str, path: str) -> None:
    with client() as api:
        route = _existing(api, domain, hostname, path)
        if route is None:  # as the cf CLI: nothing to do is no failure
            console.print(f"Route {url(domain, hostname, path)} does not exist.")
            return
        api.delete_route(route["guid"])
    apps = f" (it sent requests to {', '.join(route['apps'])})" if route["apps"] else ""
    console.print(f"Deleted route {route['url']}{apps}.")


def _existing(api: ApiClient, domain: str, host: str, path: str) -> dict[str, Any] | None:
    found = api.find_routes(domain=domain, host=host, path=normal_path(path))
    return found[0] if found else None


ServiceArg = Annotated[
    str, typer.Argument(metavar="SERVICE", help="A user-provided service made with -r URL.")
]


def bind_route_service(
    domain: DomainArg, service: ServiceArg, hostname: HostOpt = "", path: PathOpt = ""
) -> None:
    """Send a route's requests through a route service first (a user-provided service of the
    route's space, made with `yun create-user-provided-service NAME -r URL`).

    Examples:
      yun create-user-provided-service gate -r https://gate.example.com/check
      yun bind-route-service apps.localhost gate --hostname api
    """
    with client() as api:
        route = _route_named(api, domain, hostname, path)
        bound = api.bind_route_service(route["guid"], service)
    console.print(f"Route {bound['url']} now goes through route service {service}.")


def unbind_route_service(
    domain: DomainArg, service: ServiceArg, hostname: HostOpt = "", path: PathOpt = ""
) -> None:
    """Let a route's requests reach its apps directly again.

    Examples:
      yun unbind-route-service apps.localhost gate --hostname api
    """
    with client() as api:
        route = _route_named(api, domain, hostname, path)
        if route.get("route_service_instance") != service:
            raise CliError(f"route {route['url']} is not bound to route service {service}")
        api.unbind_route_service(route["guid"])
    console.print(f"Route {route['url']} no longer goes through route service {service}.")


def _route_named(api: ApiClient, domain: str, host: str, path: str) -> dict[str, Any]:
    route = _existing(api, domain, host, path)
    if route is None:
        raise CliError(f"no route {url(domain, host, path)}; `yun routes` lists them")
    return route
