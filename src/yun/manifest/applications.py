"""Validating one application entry of a manifest (or of an API request) into an `AppSpec`.

This is where the Cloud Foundry application keys are read, in a fixed order so the first error a
user sees is predictable, and where Stackato's block is folded in (its `web` command and declared
env defaults). Sections with their own rules live next door: processes.py, bindings.py,
stackato.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from yun.manifest.bindings import read_routes, read_services
from yun.manifest.cron import read_cron
from yun.manifest.errors import show
from yun.manifest.fields import (
    Scope,
    as_bool,
    as_count,
    as_list,
    as_mapping,
    as_size,
    as_text,
    env_value,
    is_reserved_env,
    optional,
    warn_unknown,
)
from yun.manifest.models import AppSpec, CronSpec, StackatoSpec
from yun.manifest.processes import (
    HEALTH_CHECK_KEYS,
    read_health_check,
    read_processes,
    read_timeout,
)
from yun.manifest.stackato import merge_declared_env, read_stackato
from yun.runtimes import RUNTIMES

APP_KEYS = (
    "name",
    "path",
    "memory",
    "mem",
    "disk_quota",
    "instances",
    "command",
    "buildpack",
    "buildpacks",
    "stack",
    "runtime",
    "env",
    *HEALTH_CHECK_KEYS,
    "routes",
    "random-route",
    "no-route",
    "processes",
    "services",
    "docker",
    "stackato",
    "cron",
)
_ROUTE_HINT = "use routes: [{route: HOST.DOMAIN}]"
_RETIRED_KEYS = {
    "host": _ROUTE_HINT,
    "hosts": _ROUTE_HINT,
    "domain": _ROUTE_HINT,
    "domains": _ROUTE_HINT,
    "no-hostname": _ROUTE_HINT,
}
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")


def read_application(data: object, scope: Scope, *, base_dir: Path | None) -> AppSpec:
    """Validate one application mapping; `scope` names it (e.g. ``applications[0]``)."""
    app = as_mapping(data, scope, example="name: myapp, memory: 256M")
    if "inherit" in app:
        raise scope.key("inherit").error(
            f"is not supported; copy the settings from {show(app['inherit'])} into this manifest"
        )
    for key, hint in _RETIRED_KEYS.items():
        if key in app:
            raise scope.key(key).error(f"is no longer supported; {hint}")
    warn_unknown(app, APP_KEYS, scope)

    name = _read_name(app.get("name"), scope.key("name"))
    path = _read_path(app.get("path"), scope.key("path"), base_dir)
    memory_mb = _read_memory(app, scope)
    disk_mb = optional(app, "disk_quota", scope, as_size)
    instances = optional(app, "instances", scope, as_count)
    command = optional(app, "command", scope, as_text)
    buildpacks = _read_buildpacks(app, scope)
    stack = optional(app, "stack", scope, as_text)
    runtime = optional(app, "runtime", scope, _read_runtime)
    env = _read_env(app.get("env"), scope.key("env"))
    health_check = read_health_check(app, scope)
    timeout = read_timeout(app, scope)
    route_options = optional(app, "routes", scope, read_routes) or {}
    routes = list(route_options)
    random_route = bool(optional(app, "random-route", scope, as_bool))
    no_route = bool(optional(app, "no-route", scope, as_bool))
    if no_route and routes:
        raise scope.key("no-route").error("cannot be combined with routes; remove one of them")
    if random_route and (routes or no_route):
        reason = "routes are given" if routes else "no-route is set"
        scope.key("random-route").warn(f"is ignored because {reason}")
    processes = optional(app, "processes", scope, read_processes) or []
    services, service_types = optional(app, "services", scope, read_services) or ([], {})
    docker_image, docker_username = _read_docker(app, scope, buildpacks=bool(buildpacks))
    stackato: StackatoSpec | None = None
    if app.get("stackato") is not None:
        at = scope.key("stackato")
        stackato, web_command = read_stackato(app["stackato"], at)
        if web_command is not None and command is not None:
            at.key("processes").key("web").warn("is ignored because command is set")
        command = command if command is not None else web_command
        env = merge_declared_env(stackato.env, env, at.key("env"))
    cron = _read_cron(app, scope)
    return AppSpec(
        name=name,
        path=path,
        memory_mb=memory_mb,
        disk_mb=disk_mb,
        instances=instances,
        command=command,
        buildpacks=buildpacks,
        env=env,
        health_check=health_check,
        timeout=timeout,
        routes=routes,
        route_options={route: options for route, options in route_options.items() if options},
        random_route=random_route,
        no_route=no_route,
        processes=processes,
        services=services,
        service_types=service_types,
        docker_image=docker_image,
        docker_username=docker_username,
        stackato=stackato,
        stack=None if stack is None else stack.strip(),
        runtime=runtime,
        cron=cron,
    )


def _read_cron(app: dict[str, object], scope: Scope) -> list[CronSpec] | None:
    """`cron:` of the application, or of its `stackato:` block (where Stackato kept it)."""
    block = app.get("stackato")
    inner = block.get("cron") if isinstance(block, dict) else None
    if app.get("cron") is not None and inner is not None:
        raise scope.key("cron").error("is given twice, here and in stackato:; keep one")
    if inner is not None:
        return read_cron(inner, scope.key("stackato").key("cron"))
    return optional(app, "cron", scope, read_cron)


def _read_name(value: object, scope: Scope) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise scope.error("is required; every application needs a name")
    name = as_text(value, scope).strip()
    label = name.lower()
    if len(label) > 63:
        raise scope.error(f"{show(name)} is longer than 63 characters")
    if "_" in label and _DNS_LABEL.match(label.replace("_", "-")):
        raise scope.error(
            f"{show(name)} contains an underscore; app names become host names, so use "
            f"letters, digits and hyphens ({name.replace('_', '-')})"
        )
    if not _DNS_LABEL.match(label):
        raise scope.error(
            f"{show(name)} is not a valid app name; use letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    return name


def _read_runtime(value: object, scope: Scope) -> str:
    runtime = as_text(value, scope).strip().lower()
    if runtime not in RUNTIMES:
        raise scope.error(f"{show(value)} is not a runtime; use {' or '.join(RUNTIMES)}")
    return runtime


def _read_path(value: object, scope: Scope, base_dir: Path | None) -> str | None:
    if value is None:
        return None
    text = as_text(value, scope).strip()
    if base_dir is None:
        return text
    resolved = (base_dir / Path(text).expanduser()).resolve()
    if not resolved.exists():
        raise scope.error(f"{show(text)} does not exist (looked for {resolved})")
    return str(resolved)


def _read_memory(app: Mapping[str, object], scope: Scope) -> int | None:
    memory, mem = app.get("memory"), app.get("mem")
    if memory is not None and mem is not None:
        raise scope.key("mem").error("give memory or mem, not both")
    if memory is not None:
        return as_size(memory, scope.key("memory"))
    return None if mem is None else as_size(mem, scope.key("mem"))


def _read_buildpacks(app: Mapping[str, object], scope: Scope) -> list[str]:
    legacy, listed = app.get("buildpack"), app.get("buildpacks")
    if legacy is not None and listed is not None:
        raise scope.key("buildpack").error("give buildpack or buildpacks, not both")
    if legacy is not None:
        name = as_text(legacy, scope.key("buildpack")).strip()
        return [] if name in ("null", "default") else [name]
    if listed is None:
        return []
    at = scope.key("buildpacks")
    items = as_list(listed, at, example="- python_buildpack")
    return [as_text(item, at.item(i)).strip() for i, item in enumerate(items)]


def _read_env(value: object, scope: Scope) -> dict[str, str]:
    if value is None:
        return {}
    env: dict[str, str] = {}
    for name, item in as_mapping(value, scope, example="NAME: value").items():
        at = scope.key(name)
        if not name or "=" in name or "\0" in name:
            raise at.error(f"{show(name)} is not a valid variable name")
        if is_reserved_env(name):
            raise at.error("is set by the platform; choose another name")
        env[name] = env_value(item, at)
    return env


def _read_docker(
    app: Mapping[str, object], scope: Scope, *, buildpacks: bool
) -> tuple[str | None, str | None]:
    if app.get("docker") is None:
        return None, None
    at = scope.key("docker")
    docker = as_mapping(app["docker"], at, example="image: nginx:1.25")
    warn_unknown(docker, ("image", "username"), at)
    if buildpacks:
        raise at.error("cannot be combined with buildpacks; an app runs an image or built code")
    if app.get("path") is not None:
        raise at.error("cannot be combined with path; an app runs an image or built code")
    if docker.get("image") is None:
        raise at.key("image").error("is required, for example nginx:1.25")
    image = as_text(docker["image"], at.key("image")).strip()
    username = docker.get("username")
    return image, None if username is None else as_text(username, at.key("username")).strip()
