"""App commands: apps, app, start, stop, restart, scale, delete, env, set-env, unset-env."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.markup import escape

from yun.cli.options import DiskOpt, InFlightOpt, JsonOpt, KeepOpt, MemoryOpt, StepsOpt, StrategyOpt
from yun.cli.output import CliError, ForceOpt, Listing, age, confirm_delete, console, print_json
from yun.cli.session import client, route_url, router_host, router_port
from yun.client import ApiClient
from yun.manifest import parse_size


def _instances_summary(app: dict[str, Any]) -> str:
    parts = []
    for proc in app["processes"]:
        if proc["instances"] or proc["type"] == "web":
            parts.append(f"{proc['type']}:{proc['running']}/{proc['instances']}")
    return ", ".join(parts)


def byte_size(value: int) -> str:
    """Bytes the way `cf app` and manifests write them: 0, 512B, 34.2M, 256M, 1G."""
    if value == 0:
        return "0"
    size, unit = float(value), "B"
    for unit in ("B", "K", "M", "G", "T"):
        if size < 1024 or unit == "T":
            break
        size /= 1024
    return f"{size:.1f}".removesuffix(".0") + unit


def use_of(used: int | None, limit: int | None) -> str:
    """A use and its limit, like `34.2M of 256M`; `-` for a use nobody measured."""
    shown = "-" if used is None else byte_size(used)
    return shown if limit is None else f"{shown} of {byte_size(limit)}"


def apps(json_: JsonOpt = False) -> None:
    """List the apps of the target space."""
    with client() as api:
        found = api.apps()
        port = router_port(api)
    if json_:
        print_json(found)
        return
    table = Listing("name", "state", "processes", "routes")
    for app in found:
        routes = _routes(app, port)
        table.add_row(app["name"], app["state"].lower(), _instances_summary(app), routes)
    if not found:
        console.print("No apps found. Push one with `yun push`.")
        return
    console.print(table)


def _routes(app: dict[str, Any], router_port: int) -> str:
    """The app's URLs: through Yun's router, or, for an app on a cluster, through the cluster's
    own Ingress or Gateway (whose address Yun does not know)."""
    if app.get("cluster"):
        urls = ", ".join(route_url(r, 80) for r in app["routes"])
        return f"{urls} (served by cluster {app['cluster']})" if urls else ""
    return ", ".join(route_url(r, router_port) for r in app["routes"])


def _runtime(app: dict[str, Any]) -> str:
    """What the app's containers run under (runc, gvisor), and what they will after a restart
    when the space's or the manifest's choice changed; "" for host processes."""
    drivers = {
        inst.get("driver")
        for proc in app.get("processes", [])
        for inst in proc.get("instance_details", [])
    }
    running, wanted = app.get("runtime"), app.get("runtime_next")
    if not running or drivers == {"process"}:
        return ""
    if wanted and wanted != running:
        return f"{running} ({wanted} from the next restart: yun restart {app['name']})"
    return str(running)


def show_app(api: ApiClient, app: dict[str, Any]) -> None:
    port = router_port(api)
    console.print(f"[bold]name:[/]      {escape(app['name'])}")
    console.print(f"[bold]state:[/]     {app['state'].lower()}")
    routes = _routes(app, port) or "(none)"
    console.print(f"[bold]routes:[/]    {escape(routes)}")
    if app.get("tcp_routes") and app.get("cluster"):
        ports = ", ".join(f"{r['port']} ({r['name']})" for r in app["tcp_routes"])
        tcp = f"ports {ports} of cluster {app['cluster']}'s load balancer"
        console.print(f"[bold]tcp routes:[/] {escape(tcp)}")
    elif app.get("tcp_routes"):
        host = router_host(api)
        tcp = ", ".join(f"tcp://{host}:{r['port']} ({r['name']})" for r in app["tcp_routes"])
        console.print(f"[bold]tcp routes:[/] {escape(tcp)}")
    if app.get("stack"):
        console.print(f"[bold]stack:[/]     {escape(app['stack'])}")
    runtime = _runtime(app)
    if runtime:
        console.print(f"[bold]runtime:[/]   {escape(runtime)}")
    if app.get("droplet"):
        buildpacks = ", ".join(app["droplet"]["buildpacks"])
        console.print(f"[bold]buildpacks:[/] {escape(buildpacks)}")
    if app.get("revision"):
        console.print(f"[bold]revision:[/]  {app['revision']['version']}")
    now = time.time()
    for proc in app["processes"]:
        if not proc["instances"] and proc["type"] != "web":
            continue
        console.print()
        console.print(f"[bold]type:[/]      {escape(proc['type'])}")
        console.print(f"[bold]instances:[/] {proc['running']}/{proc['instances']}")
        console.print(
            f"[bold]memory:[/]    {proc['memory_mb']}M   [bold]disk:[/] {proc['disk_mb']}M"
        )
        console.print(f"[bold]command:[/]   {escape(proc['command'] or '(none)')}")
        table = Listing(
            "#", "state", "since", "address", "driver", "memory", "disk", "crashes", "details"
        )
        for inst in proc.get("instance_details", []):
            address = f"{inst['address']}:{inst['port']}" if inst.get("port") else ""
            details = inst.get("reason") or ""
            table.add_row(
                str(inst["index"]),
                inst["state"].lower(),
                age(now - inst["since"]) + " ago",
                address,
                inst.get("driver", ""),
                use_of(inst.get("memory_bytes"), inst.get("memory_limit_bytes")),
                use_of(inst.get("disk_bytes"), inst.get("disk_quota_bytes")),
                str(inst["crash_count"]),
                details,
            )
        console.print(table)


def app(name: str, json_: JsonOpt = False) -> None:
    """Show one app: state, routes, and each instance."""
    with client() as api:
        found = api.find_app(name)
        if json_:
            print_json(found)
            return
        show_app(api, found)


def _action(
    name: str, action: str, past: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    with client() as api:
        found = api.find_app(name)
        console.print(f"{past} app [bold]{name}[/]…")
        return api.action(found["guid"], action, body)


def start(name: str) -> None:
    """Start an app and wait for an instance to be running."""
    from yun.cli.waiting import wait_running

    with client() as api:
        if api.find_app(name)["state"] == "STARTED":
            console.print(f"App {name} is already started.")
            return
    app = _action(name, "start", "Starting")
    wait_running(name, after=float(app["updated_at"]))


def stop(name: str) -> None:
    """Stop every instance of an app."""
    _action(name, "stop", "Stopping")
    console.print("OK")


def restart(
    name: str,
    strategy: StrategyOpt = "rolling",
    max_in_flight: InFlightOpt = 1,
    instance_steps: StepsOpt = None,
    keep_old: KeepOpt = 60.0,
) -> None:
    """Restart an app: new instances (with env changes) replace the old ones."""
    from yun.cli.deploying import release_options, wait_released

    options = release_options(strategy, max_in_flight, instance_steps, keep_old)
    app = _action(name, "restart", "Restarting", options)
    wait_released(name, after=float(app["updated_at"]), deploying=bool(app.get("deployment")))


def scale(
    name: str,
    instances: Annotated[
        int | None,
        typer.Option("-i", "--instances", min=0, metavar="N", help="Instances (0 or more)."),
    ] = None,
    memory: MemoryOpt = None,
    disk: DiskOpt = None,
    process: Annotated[
        str, typer.Option("--process", metavar="TYPE", help="Process type, e.g. web or worker.")
    ] = "web",
) -> None:
    """Change instances, memory or disk of a process.

    Examples:
      yun scale myapp -i 3
      yun scale myapp -m 512M -k 2G
    """
    try:
        memory_mb = parse_size(memory) if memory else None
    except ValueError as exc:
        raise CliError(f"--memory: {memory!r} is not a size like 256M or 1G") from exc
    try:
        disk_mb = parse_size(disk) if disk else None
    except ValueError as exc:
        raise CliError(f"--disk: {disk!r} is not a size like 512M or 1G") from exc
    if instances is None and memory_mb is None and disk_mb is None:
        raise CliError("nothing to change: give -i, -m or -k")
    with client() as api:
        found = api.find_app(name)
        result = api.scale(
            found["guid"], process, instances=instances, memory_mb=memory_mb, disk_mb=disk_mb
        )
    console.print(f"Scaled {name} ({process}).")
    if result.get("deployment"):  # new limits: new instances roll in
        from yun.cli.deploying import wait_released

        wait_released(name, after=float(result["updated_at"]), deploying=True)


def delete(name: str, force: ForceOpt = False) -> None:
    """Delete an app, its instances and its routes."""
    if not confirm_delete(f"the app {name}", force=force):
        return
    with client() as api:
        found = api.find_app(name)
        api.delete(found["guid"])
    console.print(f"Deleted app {name}.")


def env(name: str, json_: JsonOpt = False) -> None:
    """Show an app's environment variables."""
    with client() as api:
        found = api.find_app(name)
        data = api.env(found["guid"])
    if json_:
        print_json(data)
        return
    console.print("[bold]User-provided:[/]")
    for key, value in sorted(data["environment_variables"].items()):
        console.print(f"{key}: {value}", markup=False)
    if data.get("pending_restart"):
        console.print("\nUse `yun restart` to apply changes to running instances.")


def set_env(name: str, key: str, value: str) -> None:
    """Set an environment variable (takes effect on restart)."""
    with client() as api:
        found = api.find_app(name)
        api.update_env(found["guid"], {key: value})
    console.print(f"Set {key} on {name}. Use `yun restart {name}` to apply it.")


def unset_env(name: str, key: str) -> None:
    """Remove an environment variable (takes effect on restart)."""
    with client() as api:
        found = api.find_app(name)
        if key not in api.env(found["guid"])["environment_variables"]:
            raise CliError(f"{name} has no environment variable {key}")
        api.update_env(found["guid"], {key: None})
    console.print(f"Removed {key} from {name}. Use `yun restart {name}` to apply it.")
