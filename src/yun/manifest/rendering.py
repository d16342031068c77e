"""Writing a validated `AppSpec` back out as one Cloud Foundry manifest application.

The CLI parses a manifest, may adjust an app with command-line flags (`-m 1G`, `-u http`), then
sends the app to the API, which validates it again with `parse_application`. `to_manifest`
produces that request body in the manifest's own vocabulary, and checks it on the way out so a bad
flag is reported by the CLI instead of by the server.
"""

from __future__ import annotations

from typing import Any

from yun.manifest.applications import read_application
from yun.manifest.errors import reported_as
from yun.manifest.fields import Scope
from yun.manifest.models import AppSpec, CronSpec, HealthCheck, ProcessSpec, StackatoSpec


def to_manifest(spec: AppSpec) -> dict[str, Any]:
    """The manifest application for `spec`; raises ManifestError if the spec is not valid."""
    data: dict[str, Any] = {"name": spec.name}
    _put(data, "path", spec.path)
    _put(data, "memory", _size(spec.memory_mb))
    _put(data, "disk_quota", _size(spec.disk_mb))
    _put(data, "instances", spec.instances)
    _put(data, "command", spec.command)
    if spec.buildpacks:
        data["buildpacks"] = list(spec.buildpacks)
    _put(data, "stack", spec.stack)
    _put(data, "runtime", spec.runtime)
    if spec.env:
        data["env"] = dict(spec.env)
    data.update(_health_check(spec.health_check, spec.timeout))
    if spec.routes:
        data["routes"] = [_route(route, spec.route_options.get(route)) for route in spec.routes]
    if spec.random_route:
        data["random-route"] = True
    if spec.no_route:
        data["no-route"] = True
    if spec.processes:
        data["processes"] = [_process(process) for process in spec.processes]
    if spec.services and spec.service_types:
        data["services"] = {name: spec.service_types[name] for name in spec.services}
    elif spec.services:
        data["services"] = list(spec.services)
    if spec.docker_image is not None:
        data["docker"] = {"image": spec.docker_image}
        _put(data["docker"], "username", spec.docker_username)
    if spec.stackato is not None:
        data["stackato"] = _stackato(spec.stackato)
    if spec.cron is not None:
        data["cron"] = [_cron(job) for job in spec.cron]
    source = spec.name or "app"
    with reported_as(source):
        read_application(data, Scope(source), base_dir=None)
    return data


def _put(data: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        data[key] = value


def _size(megabytes: int | None) -> str | None:
    return None if megabytes is None else f"{megabytes}M"


def _health_check(check: HealthCheck | None, timeout: int | None) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if check is not None:
        data["health-check-type"] = check.type
        if check.type == "http":
            data["health-check-http-endpoint"] = check.endpoint
        _put(data, "health-check-invocation-timeout", check.invocation_timeout)
        timeout = timeout if timeout is not None else check.timeout
    _put(data, "timeout", timeout)
    return data


def _cron(job: CronSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"schedule": job.expression, "command": job.command}
    if job.name:
        data["name"] = job.name
    if job.overlap:
        data["overlap"] = True
    _put(data, "memory", _size(job.memory_mb))
    return data


def _process(process: ProcessSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"type": process.type}
    _put(data, "command", process.command)
    _put(data, "instances", process.instances)
    _put(data, "memory", _size(process.memory_mb))
    _put(data, "disk_quota", _size(process.disk_mb))
    data.update(_health_check(process.health_check, None))
    return data


def _stackato(stackato: StackatoSpec) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if stackato.env:
        data["env"] = {name: var.to_dict() for name, var in stackato.env.items()}
    hooks = {
        "pre-staging": stackato.pre_staging,
        "post-staging": stackato.post_staging,
        "pre-running": stackato.pre_running,
    }
    if any(hooks.values()):
        data["hooks"] = {name: list(commands) for name, commands in hooks.items() if commands}
    requirements = {"pip": stackato.pip, "ubuntu": stackato.ubuntu}
    if any(requirements.values()):
        data["requirements"] = {kind: list(items) for kind, items in requirements.items() if items}
    _put(data, "autoscale", stackato.autoscale)
    versions = {"server": stackato.min_version_server, "client": stackato.min_version_client}
    if any(versions.values()):
        data["min_version"] = {side: v for side, v in versions.items() if v is not None}
    return data


def _route(route: str, options: dict[str, Any] | None) -> dict[str, Any]:
    policy = dict(options or {})
    data: dict[str, Any] = {"route": route}
    if (protocol := policy.pop("protocol", None)) is not None:
        data["protocol"] = protocol  # Cloud Foundry's place for it: beside route, not an option
    if policy:
        data["options"] = policy
    return data
