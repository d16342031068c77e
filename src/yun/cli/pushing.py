"""`yun push` and `yun restage`: manifest → desired state → upload → live staging → running.

Like `cf push`: the manifest in the folder (or `-f`) describes one or more apps; flags override
it for a single app; only files the platform does not already have are uploaded; staging output
streams live; the command waits for an instance to run and prints the app's URL.
"""

from __future__ import annotations

import dataclasses
import os
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from yun import __version__
from yun.cli.archives import is_archive, unpacked
from yun.cli.bits import scan, tar_chunks
from yun.cli.deploying import release_options, wait_released
from yun.cli.options import DiskOpt, InFlightOpt, KeepOpt, MemoryOpt, StepsOpt, StrategyOpt
from yun.cli.output import CliError, console, transfer_progress
from yun.cli.services import wait_bindings
from yun.cli.session import client
from yun.cli.waiting import wait_running
from yun.client import ApiClient
from yun.manifest import (
    AppSpec,
    HealthCheck,
    ManifestError,
    check_min_version,
    parse_manifest,
    parse_size,
    to_manifest,
)

DOCKER_PASSWORD_ENV = "YUN_DOCKER_PASSWORD"  # noqa: S105 (a variable's name, like cf's CF_DOCKER_PASSWORD)


def _parse_vars(pairs: list[str]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--var: {pair!r} is not KEY=VALUE")
        result[key] = value
    return result


def _from_flags(name: str | None, path: Path) -> AppSpec:
    if not name:
        raise CliError(f"no manifest.yml in {path}; give the app name: yun push NAME")
    return AppSpec(name=name, path=str(path))


def push(
    name: Annotated[
        str | None, typer.Argument(help="App name (picks one app of the manifest).")
    ] = None,
    path: Annotated[
        Path | None,
        typer.Option("-p", "--path", metavar="PATH", help="App folder (default: this folder)."),
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(
            "-f", "--manifest", metavar="MANIFEST", help="Manifest file (default: manifest.yml)."
        ),
    ] = None,
    memory: MemoryOpt = None,
    disk: DiskOpt = None,
    instances: Annotated[
        int | None,
        typer.Option(
            "-i", "--instances", min=0, metavar="N", help="Number of instances (0 or more)."
        ),
    ] = None,
    command: Annotated[
        str | None,
        typer.Option(
            "-c", "--command", metavar="COMMAND", help="Start command of the web process."
        ),
    ] = None,
    buildpack: Annotated[
        list[str] | None,
        typer.Option(
            "-b",
            "--buildpack",
            metavar="BUILDPACK",
            help="Buildpack by name or Git URL (repeatable: the last one runs the app).",
        ),
    ] = None,
    vars_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--vars-file",
            metavar="PATH",
            help="YAML file of ((variables)) for the manifest (repeatable).",
        ),
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var",
            metavar="KEY=VALUE",
            help="A ((variable)) for the manifest, e.g. --var region=eu (repeatable).",
        ),
    ] = None,
    no_start: Annotated[
        bool, typer.Option("--no-start", help="Upload and stage, but do not start the app.")
    ] = False,
    no_manifest: Annotated[
        bool, typer.Option("--no-manifest", help="Ignore the manifest; use the flags only.")
    ] = False,
    random_route: Annotated[
        bool, typer.Option("--random-route", help="Give a new app a route with a random host.")
    ] = False,
    no_route: Annotated[
        bool, typer.Option("--no-route", help="Map no route: the app gets no HTTP requests.")
    ] = False,
    health_check_type: Annotated[
        str | None,
        typer.Option(
            "-u",
            "--health-check-type",
            metavar="TYPE",
            help="How instances are checked: port, process or http.",
        ),
    ] = None,
    timeout: Annotated[
        int | None,
        typer.Option(
            "-t",
            "--timeout",
            min=1,
            metavar="SECONDS",
            help="Seconds an instance may take to pass its first health check (1 or more).",
        ),
    ] = None,
    stack: Annotated[
        str | None,
        typer.Option(
            "-s",
            "--stack",
            metavar="STACK",
            help="Stack to stage and run on (see yun stacks); default: the one the app's "
            "declared runtime versions need, else the platform's default.",
        ),
    ] = None,
    docker_image: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--docker-image",
            metavar="IMAGE",
            help="Run this OCI image instead, e.g. nginx:1.",
        ),
    ] = None,
    docker_username: Annotated[
        str | None,
        typer.Option(
            "--docker-username",
            metavar="USER",
            help="Registry user; the password comes from YUN_DOCKER_PASSWORD.",
        ),
    ] = None,
    strategy: StrategyOpt = "rolling",
    max_in_flight: InFlightOpt = 1,
    instance_steps: StepsOpt = None,
    keep_old: KeepOpt = 60.0,
) -> None:
    """Push an app: upload, stage with buildpacks, start (a running app: a rolling deployment,
    no downtime), and print its URL.

    Examples:
      yun push
      yun push myapp -p ./myapp -i 2 -m 512M
      yun push myapp --var region=eu --vars-file vars.yml
      yun push myapp --strategy canary --instance-steps 10,50
      yun push web -o nginx:1
    """
    release = release_options(strategy, max_in_flight, instance_steps, keep_old)
    if docker_image and (path is not None or buildpack):
        raise CliError("-o/--docker-image: an image app has no -p/--path or -b/--buildpack")
    if docker_username and not docker_image:
        raise CliError("--docker-username: only with -o/--docker-image")
    with ExitStack() as unpacking:  # an archive pushed with -p stays unpacked until the end
        folder = (path or Path.cwd()).resolve()
        manifest_dir = folder
        if path is not None and is_archive(folder):  # cf push -p app.jar: manifest stays here
            manifest_dir = Path.cwd()
            folder = unpacked(folder, stack=unpacking)
        elif path is not None and not folder.is_dir():
            raise CliError(f"-p/--path: {path} is not a folder, nor a .jar, .war or .zip")
        manifest_path = manifest or (manifest_dir / "manifest.yml")
        if manifest is not None and not manifest.is_file():
            raise CliError(f"-f/--manifest: {manifest} does not exist")
        specs: list[AppSpec]
        source = "request"
        if not no_manifest and manifest_path.is_file():
            parsed = parse_manifest(
                manifest_path, vars_files=vars_file or (), variables=_parse_vars(var or [])
            )
            for warning in parsed.warnings:
                console.print(f"[yellow]warning:[/] {warning}", markup=True, highlight=False)
            specs = list(parsed.applications)
            source = manifest_path.name
            if name:
                specs = [s for s in specs if s.name == name]
                if not specs and len(parsed.applications) > 1:
                    raise CliError(f"{manifest_path.name} has no app named {name}")
                if not specs:
                    specs = [dataclasses.replace(parsed.applications[0], name=name)]
        else:
            specs = [_from_flags(name, folder)]
        overrides: dict[str, Any] = {}
        try:
            if memory:
                overrides["memory_mb"] = parse_size(memory)
            if disk:
                overrides["disk_mb"] = parse_size(disk)
        except ValueError as exc:
            raise CliError(f"-m/-k: {exc}") from exc
        if instances is not None:
            overrides["instances"] = instances
        if command:
            overrides["command"] = command
        if buildpack:
            overrides["buildpacks"] = list(buildpack)
        if stack:
            overrides["stack"] = stack
        if docker_image:
            overrides["docker_image"] = docker_image
            overrides["path"] = None  # the folder the command ran in is not the app's
        if docker_username:
            overrides["docker_username"] = docker_username
        if random_route:
            overrides["random_route"] = True
        if no_route:
            overrides["no_route"] = True
        if timeout:
            overrides["timeout"] = timeout
        if overrides or health_check_type:
            if len(specs) > 1:
                raise CliError("flags like -m/-i/-c apply to one app; name it: yun push NAME")
            if health_check_type:
                kind = {"port": "port", "process": "process", "none": "process", "http": "http"}
                if health_check_type not in kind:
                    raise CliError("-u/--health-check-type: use port, process or http")
                checked: Literal["port", "process", "http"] = kind[health_check_type]  # type: ignore[assignment]
                base = specs[0].health_check or HealthCheck()
                overrides["health_check"] = dataclasses.replace(base, type=checked)
            specs = [dataclasses.replace(specs[0], **overrides)]
        with client() as api:
            info = api.info()
            server_version = str(info.get("version", "0"))
            for spec in specs:
                check_min_version(spec, server_version=server_version, client_version=__version__)
                _check_docker(spec, info, api)
            for index, spec in enumerate(specs):
                _push_one(
                    api,
                    spec,
                    folder=folder,
                    source=source,
                    index=index,
                    start=not no_start,
                    release=release,
                    unpacking=unpacking,
                )


def _check_docker(spec: AppSpec, info: dict[str, Any], api: ApiClient) -> None:
    """An image app needs a server that runs containers (or a space on a Kubernetes cluster),
    and a password for a registry user."""
    if not spec.docker_image:
        return
    if info.get("driver") != "runc" and not _on_a_cluster(api):
        raise CliError(
            f"app {spec.name}: docker images run in containers, and this server runs instances"
            f" with the {info.get('driver', 'process')} driver; start `yun server` as root"
            " with YUN_DRIVER=runc (or auto)"
        )
    if spec.docker_username and not os.environ.get(DOCKER_PASSWORD_ENV):
        raise CliError(
            f"app {spec.name}: docker.username needs the password in {DOCKER_PASSWORD_ENV}"
        )


def _on_a_cluster(api: ApiClient) -> bool:
    """Whether the targeted space runs its apps on a Kubernetes cluster."""
    target = api.space_params().get("space_guid")
    return any(
        space["guid"] == target and space.get("cluster", "local") != "local"
        for space in api.spaces()
    )


def _push_one(
    api: ApiClient,
    spec: AppSpec,
    *,
    folder: Path,
    source: str,
    index: int,
    start: bool,
    release: dict[str, Any],
    unpacking: ExitStack,
) -> None:
    app_dir = Path(spec.path) if spec.path else folder
    if not spec.docker_image and is_archive(app_dir):
        app_dir = unpacked(app_dir, stack=unpacking, option=f"app {spec.name}: path")
    if not spec.docker_image and not app_dir.is_dir():
        raise CliError(f"app {spec.name}: path {app_dir} is not a folder, nor a .jar, .war or .zip")
    origin = f"image {spec.docker_image}" if spec.docker_image else str(app_dir)
    console.print(f"Pushing app [bold]{spec.name}[/] from {origin}")
    try:
        application = to_manifest(spec)
    except ManifestError as exc:
        raise CliError(str(exc)) from exc
    application.pop("path", None)
    app = api.push(application, source=source, index=index, start=start)
    wait_bindings(api, list(app.get("pending_bindings") or []))
    if spec.docker_image:
        package = api.create_docker_package(
            app["guid"],
            image=spec.docker_image,
            username=spec.docker_username,
            password=os.environ.get(DOCKER_PASSWORD_ENV) if spec.docker_username else None,
        )
    else:
        package = upload(api, app["guid"], app_dir)
    build = api.create_build(package["guid"], start=start, release=release)
    stage_and_follow(api, app["guid"], build)
    if start:
        wait_released(spec.name, after=float(build["created_at"]))
    else:
        console.print(f"App {spec.name} staged; start it with `yun start {spec.name}`.")


def upload(api: ApiClient, app_guid: str, app_dir: Path) -> dict[str, Any]:
    entries = scan(app_dir)
    known = api.resource_match([{"sha256": e.sha256, "size": e.size} for e in entries])
    unique: dict[str, Any] = {}
    for entry in entries:
        if entry.sha256 not in known:
            unique.setdefault(entry.sha256, entry)
    missing = list(unique.values())
    total = sum(e.size for e in missing)
    console.print(
        f"Uploading {len(entries)} files: {len(missing)} new "
        f"({total / 1024:.1f} KiB), {len(entries) - len(missing)} unchanged"
    )
    if missing:
        with transfer_progress(transient=False) as progress:
            task = progress.add_task("upload", total=total)
            api.upload_bits(tar_chunks(missing, lambda n: progress.advance(task, n)))
    return api.create_package(app_guid, [e.resource() for e in entries])


def stage_and_follow(api: ApiClient, app_guid: str, build: dict[str, Any]) -> None:
    console.print("Staging app and tracing logs…")
    result: dict[str, Any] | None = None
    for item in api.stream_logs(
        app_guid, offset=int(build.get("log_offset", -1)), build=build["guid"]
    ):
        if "build" in item:
            result = item["build"]
            break
        if str(item.get("source", "")).startswith("STG"):
            console.print(f"   {item['message']}", markup=False, highlight=False, soft_wrap=True)
    if result is None:
        result = api.build(build["guid"])
    if result["state"] != "STAGED":
        raise CliError(
            f"staging failed: {result.get('error') or 'unknown error'}; "
            "the app's running release was not changed"
        )


def restage(name: str) -> None:
    """Stage the app's last upload again and restart it with the new droplet."""
    with client() as api:
        found = api.find_app(name)
        build = api.action(found["guid"], "restage")
        stage_and_follow(api, found["guid"], build)
    wait_running(name, after=float(build["created_at"]))
