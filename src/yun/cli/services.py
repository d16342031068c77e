"""Service commands, named like the cf CLI's: brokers, marketplace, services, bindings, keys.

Creating, updating and deleting a service and binding one wait for the broker to finish by
default and show the operation as it goes (`--no-wait` returns at once, like `cf`'s default).
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.markup import escape

from yun.cli import backups
from yun.cli.options import JsonOpt
from yun.cli.output import CliError, ForceOpt, Listing, confirm_delete, console, print_json
from yun.cli.session import client
from yun.client import ApiClient, ApiError
from yun.client.services import ServicesClient

ParamsOpt = Annotated[
    str | None,
    typer.Option(
        "-c",
        metavar="JSON",
        help="""Parameters for the broker: JSON or @file.json, e.g. '{"version": "16"}'.""",
    ),
]
NoWaitOpt = Annotated[bool, typer.Option("--no-wait", help="Return once the request is accepted.")]
RouteServiceOpt = Annotated[
    str | None,
    typer.Option(
        "-r", metavar="URL", help="Route service URL (https://…), for `yun bind-route-service`."
    ),
]
TagsOpt = Annotated[
    str | None, typer.Option("-t", metavar="TAGS", help="Comma-separated tags, e.g. db,main.")
]
WAIT_TIMEOUT = 30 * 60.0


def parse_json_object(text: str | None, option: str) -> dict[str, Any]:
    """`-c '{"a": 1}'` or `-c @file.json` as a dict; a mistake names the option."""
    if text is None:
        return {}
    source = text
    if text.startswith("@"):
        try:
            with open(text[1:], encoding="utf-8") as handle:
                source = handle.read()
        except OSError as exc:
            raise CliError(f"{option}: cannot read {text[1:]}: {exc.strerror}") from None
    try:
        value = json.loads(source)
    except json.JSONDecodeError as exc:
        raise CliError(f"{option}: not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(value, dict):
        raise CliError(f'{option}: expected a JSON object like \'{{"key": "value"}}\'')
    return value


def _operation(op: dict[str, Any]) -> str:
    if not op:
        return ""
    text = f"{op.get('type', '')} {op.get('state', '')}".strip()
    return f"{text}: {op['description']}" if op.get("description") else text


def _wait(fetch: Any, what: str, *, deleting: bool = False) -> dict[str, Any] | None:
    """Poll `fetch()` until its last operation ends; None once a deleted thing is gone."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    shown = ""
    with console.status(f"{what}…") as status:
        while True:
            try:
                current: dict[str, Any] = fetch()
            except ApiError as exc:
                if deleting and exc.status == 404:
                    return None
                raise
            op = current.get("last_operation") or {}
            if op.get("state") not in ("initial", "in progress"):
                if op.get("state") == "failed":
                    raise CliError(f"{what} failed: {op.get('description') or 'no reason given'}")
                return current
            line = op.get("description") or op.get("state", "")
            if line != shown:
                status.update(f"{what}… {line}")
                shown = line
            if time.monotonic() > deadline:
                raise CliError(f"{what} is still in progress; see `yun services`")
            time.sleep(0.5)


def wait_bindings(api: ApiClient, guids: list[str]) -> None:
    """Wait for bindings a push made (and the services it created for them)."""
    services = ServicesClient(api)
    for guid in guids:
        binding = services.binding(guid)
        done = _wait(
            lambda guid=guid: services.binding(guid), f"Binding {binding['service_instance']}"
        )
        if done is not None:
            console.print(f"Bound service {done['service_instance']}.")


# -- brokers and the marketplace ---------------------------------------------------------


BrokerUserArg = Annotated[str, typer.Argument(help="User for the broker's basic auth.")]
BrokerPasswordArg = Annotated[str, typer.Argument(help="Password for the broker's basic auth.")]
BrokerUrlArg = Annotated[str, typer.Argument(help="The broker's base URL (…/v2/catalog below it).")]


def create_service_broker(
    name: Annotated[str, typer.Argument(help="A name for the broker.")],
    username: BrokerUserArg,
    password: BrokerPasswordArg,
    url: BrokerUrlArg,
) -> None:
    """Register an Open Service Broker and read its catalog."""
    with client() as api:
        broker = ServicesClient(api).create_broker(
            name=name, url=url, username=username, password=password
        )
        offerings = [o for o in ServicesClient(api).offerings() if o["broker"] == name]
    names = ", ".join(o["name"] for o in offerings) or "none"
    console.print(f"Service broker {broker['name']} registered; its services: {names}.")


def update_service_broker(
    name: Annotated[str, typer.Argument(help="The broker to change.")],
    username: BrokerUserArg,
    password: BrokerPasswordArg,
    url: BrokerUrlArg,
) -> None:
    """Change a broker's URL or credentials and read its catalog again."""
    with client() as api:
        ServicesClient(api).update_broker(name, url=url, username=username, password=password)
    console.print(f"Service broker {name} updated.")


def delete_service_broker(name: str) -> None:
    """Forget a broker (refused while services of it exist)."""
    with client() as api:
        ServicesClient(api).delete_broker(name)
    console.print(f"Service broker {name} deleted.")


def service_brokers(json_: JsonOpt = False) -> None:
    """List the registered service brokers."""
    with client() as api:
        found = ServicesClient(api).brokers()
    if json_:
        print_json(found)
        return
    table = Listing("name", "url", "built-in")
    for broker in found:
        table.add_row(broker["name"], broker["url"], "yes" if broker["builtin"] else "")
    console.print(table if found else "No service brokers.")


def marketplace(
    offering: Annotated[
        str | None, typer.Option("-e", metavar="OFFERING", help="Show this offering's plans.")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """List the services brokers offer, with their plans."""
    with client() as api:
        found = ServicesClient(api).offerings(offering)
    if offering and not found:
        raise CliError(f"-e: no offering {offering} in the marketplace")
    if json_:
        print_json(found)
        return
    if offering:
        table = Listing("plan", "description", "free")
        for plan in found[0]["plans"]:
            table.add_row(plan["name"], plan["description"], "yes" if plan["free"] else "no")
    else:
        table = Listing("offering", "plans", "description", "broker")
        for item in found:
            plans = ", ".join(p["name"] for p in item["plans"])
            table.add_row(item["name"], plans, item["description"], item["broker"])
    console.print(table if found else "The marketplace is empty; register a broker first.")


# -- service instances -------------------------------------------------------------------


def create_service(
    offering: str,
    plan: str,
    name: str,
    parameters: ParamsOpt = None,
    broker: Annotated[
        str | None,
        typer.Option("-b", metavar="BROKER", help="The broker, if several offer the service."),
    ] = None,
    tags: TagsOpt = None,
    no_wait: NoWaitOpt = False,
) -> None:
    """Create a service instance from the marketplace.

    Examples:
      yun create-service postgresql shared mydb
      yun create-service redis small cache -c '{"maxmemory-policy": "allkeys-lru"}'
    """
    body: dict[str, Any] = {
        "name": name,
        "offering": offering,
        "plan": plan,
        "parameters": parse_json_object(parameters, "-c"),
        "tags": _tags(tags),
    }
    if broker:
        body["broker"] = broker
    with client() as api:
        services = ServicesClient(api)
        created = services.create(body)
        if no_wait:
            console.print(f"Creating service {name}; `yun service {name}` shows how it goes.")
            return
        _wait(lambda: services.instance(created["guid"]), f"Creating service {name}")
    console.print(f"Service {name} ({offering} {plan}) is ready.")


def _tags(text: str | None) -> list[str]:
    return [tag.strip() for tag in (text or "").split(",") if tag.strip()]


def create_user_provided_service(
    name: str,
    credentials: Annotated[
        str | None,
        typer.Option("-p", metavar="JSON", help="Credentials: a JSON object or @file.json."),
    ] = None,
    drain: Annotated[
        str | None,
        typer.Option("-l", metavar="URL", help="Syslog drain URL, e.g. syslog://HOST:PORT."),
    ] = None,
    route_service: RouteServiceOpt = None,
    tags: TagsOpt = None,
) -> None:
    """Create a service that stands for something outside the platform: credentials for apps
    (-p), a log drain (-l), or a route service routes can be bound to (-r).

    Examples:
      yun create-user-provided-service mail -p '{"host": "smtp.example.com"}'
      yun create-user-provided-service gate -r https://gate.example.com/check
    """
    body = {
        "name": name,
        "type": "user-provided",
        "credentials": parse_json_object(credentials, "-p"),
        "syslog_drain_url": drain or "",
        "route_service_url": route_service or "",
        "tags": _tags(tags),
    }
    with client() as api:
        ServicesClient(api).create(body)
    console.print(f"User-provided service {name} created.")


def update_user_provided_service(
    name: str,
    credentials: Annotated[
        str | None,
        typer.Option("-p", metavar="JSON", help="New credentials: a JSON object or @file.json."),
    ] = None,
    drain: Annotated[
        str | None, typer.Option("-l", metavar="URL", help="New syslog drain URL.")
    ] = None,
    route_service: RouteServiceOpt = None,
) -> None:
    """Change a user-provided service's credentials or drain (apps see it on restart), or its
    route service URL (routes bound to it follow at once)."""
    body: dict[str, Any] = {}
    if credentials is not None:
        body["credentials"] = parse_json_object(credentials, "-p")
    if drain is not None:
        body["syslog_drain_url"] = drain
    if route_service is not None:
        body["route_service_url"] = route_service
    if not body:
        raise CliError("give -p CREDENTIALS, -l DRAIN_URL or -r ROUTE_SERVICE_URL")
    with client() as api:
        services = ServicesClient(api)
        services.update(services.find(name)["guid"], body)
    console.print(f"Service {name} updated; restart bound apps to give them the change.")


def update_service(
    name: str,
    plan: Annotated[str | None, typer.Option("-p", metavar="PLAN", help="The new plan.")] = None,
    parameters: ParamsOpt = None,
    no_wait: NoWaitOpt = False,
) -> None:
    """Move a service to another plan or give its broker new parameters."""
    body: dict[str, Any] = {}
    if plan:
        body["plan"] = plan
    if parameters is not None:
        body["parameters"] = parse_json_object(parameters, "-c")
    if not body:
        raise CliError("give -p PLAN or -c PARAMETERS")
    with client() as api:
        services = ServicesClient(api)
        guid = services.find(name)["guid"]
        services.update(guid, body)
        if not no_wait:
            _wait(lambda: services.instance(guid), f"Updating service {name}")
    console.print(f"Service {name} updated." if not no_wait else f"Updating service {name}.")


def delete_service(name: str, no_wait: NoWaitOpt = False, force: ForceOpt = False) -> None:
    """Delete a service instance and its data (refused while apps are bound to it)."""
    if not confirm_delete(f"the service {name} and its data", force=force):
        return
    with client() as api:
        services = ServicesClient(api)
        guid = services.find(name)["guid"]
        result = services.delete(guid)
        if result.get("last_operation", {}).get("state") != "succeeded" and not no_wait:
            _wait(lambda: services.instance(guid), f"Deleting service {name}", deleting=True)
    console.print(f"Service {name} deleted." if not no_wait else f"Deleting service {name}.")


def services(json_: JsonOpt = False) -> None:
    """List the service instances of the space."""
    with client() as api:
        found = ServicesClient(api).instances()
    if json_:
        print_json(found)
        return
    table = Listing("name", "offering", "plan", "bound apps", "last operation")
    for item in found:
        table.add_row(
            item["name"],
            item["offering"],
            item["plan"],
            ", ".join(item["apps"]),
            _operation(item["last_operation"]),
        )
    console.print(table if found else "No services yet.")


def service(name: str, json_: JsonOpt = False) -> None:
    """Show one service instance: plan, bound apps, keys, last operation, backups."""
    with client() as api:
        found = ServicesClient(api).find(name)
    if json_:
        print_json(found)
        return
    rows = [
        ("name", found["name"]),
        ("offering", found["offering"]),
        ("plan", found["plan"]),
        ("broker", found["broker"]),
        ("tags", ", ".join(found["tags"])),
        ("bound apps", ", ".join(found["apps"])),
        ("keys", ", ".join(found["keys"])),
        ("last operation", _operation(found["last_operation"])),
        ("dashboard", found["dashboard_url"]),
        ("syslog drain", found["syslog_drain_url"]),
        ("backup schedule", _every(found.get("backup_every"))),
    ]
    for label, value in rows:
        if value:
            console.print(f"[bold]{label}:[/] {escape(value)}")


def _every(seconds: float | None) -> str:
    if not seconds:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"every {int(seconds // size)}{unit}"
    return f"every {seconds:g}s"


# -- bindings and keys -------------------------------------------------------------------


def _app_guid(api: ApiClient, name: str) -> str:
    return str(api.find_app(name)["guid"])


def bind_service(
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    name: Annotated[str, typer.Argument(metavar="SERVICE")],
    parameters: ParamsOpt = None,
    binding_name: Annotated[
        str | None,
        typer.Option("--binding-name", metavar="NAME", help="The binding's name in VCAP_SERVICES."),
    ] = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="Restart the app so it sees the binding.")
    ] = False,
    no_wait: NoWaitOpt = False,
) -> None:
    """Bind a service to an app: its credentials reach the app on its next restart."""
    with client() as api:
        services = ServicesClient(api)
        body: dict[str, Any] = {
            "type": "app",
            "service_instance": services.find(name)["guid"],
            "app": _app_guid(api, app_name),
            "parameters": parse_json_object(parameters, "-c"),
        }
        if binding_name:
            body["name"] = binding_name
        created = services.bind(body)
        if not no_wait:
            _wait(lambda: services.binding(created["guid"]), f"Binding {name} to {app_name}")
    _after_binding_change(app_name, f"Bound {name} to {app_name}.", restart=restart)


def _after_binding_change(app_name: str, done: str, *, restart: bool) -> None:
    console.print(done)
    if restart:
        from yun.cli.apps import restart as restart_app

        restart_app(app_name)
    else:
        console.print(f"Restart the app to apply it: `yun restart {app_name}`.")


def unbind_service(
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    name: Annotated[str, typer.Argument(metavar="SERVICE")],
    restart: Annotated[bool, typer.Option("--restart", help="Restart the app.")] = False,
) -> None:
    """Take a service's credentials away from an app (from its next restart)."""
    with client() as api:
        services = ServicesClient(api)
        instance = services.find(name)
        found = services.bindings(
            app_guid=_app_guid(api, app_name), service_instance_guid=instance["guid"], type="app"
        )
        if not found:
            raise CliError(f"app {app_name} is not bound to {name}")
        guid = found[0]["guid"]
        result = services.unbind(guid)
        if result.get("last_operation", {}).get("state") != "succeeded":
            _wait(lambda: services.binding(guid), f"Unbinding {name}", deleting=True)
    _after_binding_change(app_name, f"Unbound {name} from {app_name}.", restart=restart)


def create_service_key(
    name: Annotated[str, typer.Argument(metavar="SERVICE")],
    key: Annotated[str, typer.Argument(metavar="KEY")],
    parameters: ParamsOpt = None,
) -> None:
    """Make credentials of a service for use outside the platform."""
    with client() as api:
        services = ServicesClient(api)
        created = services.bind(
            {
                "type": "key",
                "service_instance": services.find(name)["guid"],
                "name": key,
                "parameters": parse_json_object(parameters, "-c"),
            }
        )
        _wait(lambda: services.binding(created["guid"]), f"Creating key {key}")
    console.print(f"Service key {key} of {name} created; `yun service-key {name} {key}` shows it.")


def _key(services: ServicesClient, name: str, key: str) -> dict[str, Any]:
    instance = services.find(name)
    for found in services.bindings(service_instance_guid=instance["guid"], type="key"):
        if found["name"] == key:
            return found
    raise CliError(f"service {name} has no key {key}; `yun service-keys {name}` lists them")


def service_keys(
    name: Annotated[str, typer.Argument(metavar="SERVICE")], json_: JsonOpt = False
) -> None:
    """List a service's keys."""
    with client() as api:
        services = ServicesClient(api)
        found = services.bindings(service_instance_guid=services.find(name)["guid"], type="key")
    if json_:
        print_json(found)
        return
    table = Listing("key", "last operation")
    for item in found:
        table.add_row(item["name"], _operation(item["last_operation"]))
    console.print(table if found else f"Service {name} has no keys.")


def service_key(
    name: Annotated[str, typer.Argument(metavar="SERVICE")],
    key: Annotated[str, typer.Argument(metavar="KEY")],
) -> None:
    """Print a service key's credentials as JSON."""
    with client() as api:
        print_json(_key(ServicesClient(api), name, key)["credentials"])


def delete_service_key(
    name: Annotated[str, typer.Argument(metavar="SERVICE")],
    key: Annotated[str, typer.Argument(metavar="KEY")],
) -> None:
    """Revoke a service key."""
    with client() as api:
        services = ServicesClient(api)
        guid = _key(services, name, key)["guid"]
        result = services.unbind(guid)
        if result.get("last_operation", {}).get("state") != "succeeded":
            _wait(lambda: services.binding(guid), f"Deleting key {key}", deleting=True)
    console.print(f"Service key {key} of {name} deleted.")


def delete_all_services(api: ApiClient, space_guid: str) -> int:
    """Unbind and delete every service instance of a space, one after the other, waiting for
    each broker (what `delete-space --recursive` does before the space goes); how many."""
    services = ServicesClient(api)
    found = services.instances(space_guid=space_guid)
    for instance in found:
        name, guid = instance["name"], instance["guid"]
        for binding in services.bindings(service_instance_guid=guid):
            op = binding.get("last_operation") or {}
            deleting = op.get("type") == "delete" and op.get("state") == "in progress"
            result = {} if deleting else services.unbind(binding["guid"])
            if result.get("last_operation", {}).get("state") != "succeeded":
                _wait(
                    lambda b=binding["guid"]: services.binding(b),
                    f"Unbinding {binding['app'] or binding['name']} from {name}",
                    deleting=True,
                )
        result = services.delete(guid)
        if result.get("last_operation", {}).get("state") != "succeeded":
            _wait(lambda g=guid: services.instance(g), f"Deleting service {name}", deleting=True)
        console.print(f"Deleted service {name}.", markup=False, highlight=False)
    return len(found)


def register(app: typer.Typer) -> None:
    for command in (
        create_service_broker,
        update_service_broker,
        delete_service_broker,
        service_brokers,
        marketplace,
        create_service,
        create_user_provided_service,
        update_user_provided_service,
        update_service,
        delete_service,
        services,
        service,
        bind_service,
        unbind_service,
        create_service_key,
        service_keys,
        service_key,
        delete_service_key,
        backups.service_backup,
        backups.service_backups,
        backups.service_restore,
    ):
        app.command(command.__name__.replace("_", "-"))(command)
