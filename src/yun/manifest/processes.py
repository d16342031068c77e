"""Health checks and the `processes:` list of a Cloud Foundry v7 manifest.

An application and each of its process types share the same health-check keys
(`health-check-type`, `health-check-http-endpoint`, `health-check-invocation-timeout`, `timeout`),
so both are read by `read_health_check`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from yun.manifest.errors import show
from yun.manifest.fields import (
    Scope,
    as_count,
    as_list,
    as_mapping,
    as_size,
    as_text,
    as_whole,
    optional,
    warn_unknown,
)
from yun.manifest.models import HEALTH_CHECK_TYPES, HealthCheck, HealthCheckType, ProcessSpec

HEALTH_CHECK_KEYS = (
    "health-check-type",
    "health-check-http-endpoint",
    "health-check-invocation-timeout",
    "timeout",
)
PROCESS_KEYS = ("type", "command", "instances", "memory", "disk_quota", *HEALTH_CHECK_KEYS)
_PROCESS_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def _as_seconds(value: object, scope: Scope) -> int:
    return as_whole(value, scope, minimum=1)


def read_timeout(data: Mapping[str, object], scope: Scope) -> int | None:
    return optional(data, "timeout", scope, _as_seconds)


def read_health_check(data: Mapping[str, object], scope: Scope) -> HealthCheck | None:
    """The health check described by `data`, or None when it sets none of the keys."""
    if all(data.get(key) is None for key in HEALTH_CHECK_KEYS):
        return None
    given = data.get("health-check-type")
    check_type: HealthCheckType = "port"
    if given is not None:
        at = scope.key("health-check-type")
        text = as_text(given, at).strip().lower()
        if text == "none":
            at.warn('"none" is an old name for process; write process')
            text = "process"
        if text not in HEALTH_CHECK_TYPES:
            raise at.error(f"{show(given)} is not one of port, process, http")
        check_type = text
    endpoint = "/"
    if data.get("health-check-http-endpoint") is not None:
        at = scope.key("health-check-http-endpoint")
        endpoint = as_text(data["health-check-http-endpoint"], at).strip()
        if not endpoint.startswith("/"):
            raise at.error(f'{show(endpoint)} must start with "/"')
        if given is None:
            at.warn("is only used with health-check-type: http; this check stays port")
        elif check_type != "http":
            raise at.error(f"is only used with health-check-type: http, not {check_type}")
    return HealthCheck(
        type=check_type,
        endpoint=endpoint,
        timeout=read_timeout(data, scope),
        invocation_timeout=optional(data, "health-check-invocation-timeout", scope, _as_seconds),
    )


def read_processes(value: object, scope: Scope) -> list[ProcessSpec]:
    """`processes: [{type: worker, command: ..., instances: 2}, ...]`; each type once."""
    processes: list[ProcessSpec] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(as_list(value, scope, example="- type: web")):
        at = scope.item(index)
        data = as_mapping(item, at, example="type: web, command: ...")
        warn_unknown(data, PROCESS_KEYS, at)
        spec = _read_process(data, at)
        if spec.type in seen:
            raise at.key("type").error(
                f"{show(spec.type)} is already listed at {scope.path}[{seen[spec.type]}]"
            )
        seen[spec.type] = index
        processes.append(spec)
    return processes


def _read_process(data: Mapping[str, object], scope: Scope) -> ProcessSpec:
    if data.get("type") is None:
        raise scope.key("type").error("is required, for example web or worker")
    at = scope.key("type")
    process_type = as_text(data["type"], at).strip()
    if not _PROCESS_TYPE.match(process_type):
        raise at.error(f"{show(process_type)} is not a process type like web or worker")
    return ProcessSpec(
        type=process_type,
        command=optional(data, "command", scope, as_text),
        instances=optional(data, "instances", scope, as_count),
        memory_mb=optional(data, "memory", scope, as_size),
        disk_mb=optional(data, "disk_quota", scope, as_size),
        health_check=read_health_check(data, scope),
    )
