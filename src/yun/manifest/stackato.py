"""HPE Stackato's per-application `stackato:` block, so Stackato manifests push unchanged.

Stackato kept its extensions under one key: declared environment variables with defaults,
staging and running hooks, pip and Ubuntu requirements, autoscaling settings, a `web` process
command and the minimum server and client versions the app needs. This module reads that block
into a `StackatoSpec`, merges declared defaults into the app's env and checks `min_version`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple, cast

from yun.manifest.errors import ManifestError, show
from yun.manifest.fields import (
    Scope,
    as_bool,
    as_list,
    as_mapping,
    as_text,
    as_text_list,
    env_value,
    is_reserved_env,
    plain,
    warn_unknown,
)
from yun.manifest.models import AppSpec, StackatoEnvVar, StackatoSpec

STACKATO_KEYS = ("env", "processes", "hooks", "requirements", "autoscale", "min_version", "cron")
_HOOKS = ("pre-staging", "post-staging", "pre-running")
_REQUIREMENTS = ("pip", "ubuntu")
_ENV_VAR_KEYS = ("default", "required", "hidden", "inherit", "prompt", "choices")
_VERSION = re.compile(r"^v?(\d+(?:\.\d+)*)")
_DEBIAN_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(?:=[A-Za-z0-9.+:~-]+)?$")


class StackatoBlock(NamedTuple):
    spec: StackatoSpec
    web_command: str | None


def read_stackato(value: object, scope: Scope) -> StackatoBlock:
    data = as_mapping(value, scope, example="env: ..., hooks: ...")
    warn_unknown(data, STACKATO_KEYS, scope)
    hooks = _read_hooks(data.get("hooks"), scope.key("hooks"))
    requirements = _read_requirements(data.get("requirements"), scope.key("requirements"))
    versions = _read_min_version(data.get("min_version"), scope.key("min_version"))
    autoscale = data.get("autoscale")
    if autoscale is not None:
        autoscale = plain(as_mapping(autoscale, scope.key("autoscale"), example="enabled: true"))
    spec = StackatoSpec(
        env=_read_env(data.get("env"), scope.key("env")),
        pre_staging=hooks["pre-staging"],
        post_staging=hooks["post-staging"],
        pre_running=hooks["pre-running"],
        pip=requirements["pip"],
        ubuntu=requirements["ubuntu"],
        autoscale=cast("dict[str, Any] | None", autoscale),
        min_version_server=versions.get("server"),
        min_version_client=versions.get("client"),
    )
    return StackatoBlock(spec, _read_web_command(data.get("processes"), scope.key("processes")))


def _read_web_command(value: object, scope: Scope) -> str | None:
    if value is None:
        return None
    data = as_mapping(value, scope, example="web: python app.py")
    for name in data:
        if name != "web":
            scope.key(name).warn("only web is read here, ignored; list it under processes:")
    web = data.get("web")
    return None if web is None else as_text(web, scope.key("web"))


def _read_hooks(value: object, scope: Scope) -> dict[str, list[str]]:
    data = {} if value is None else as_mapping(value, scope, example="pre-running: [...]")
    warn_unknown(data, _HOOKS, scope)
    return {
        hook: [] if data.get(hook) is None else as_text_list(data[hook], scope.key(hook))
        for hook in _HOOKS
    }


def _read_requirements(value: object, scope: Scope) -> dict[str, list[str]]:
    data = {} if value is None else as_mapping(value, scope, example="pip: [...]")
    for name in data:
        if name not in _REQUIREMENTS:
            scope.key(name).warn("is not supported (only pip and ubuntu), ignored")
    found = {
        kind: [] if data.get(kind) is None else as_text_list(data[kind], scope.key(kind))
        for kind in _REQUIREMENTS
    }
    for index, package in enumerate(found["ubuntu"]):
        if not _DEBIAN_PACKAGE.match(package):
            raise (
                scope.key("ubuntu")
                .item(index)
                .error(f"{show(package)} is not a Debian package name")
            )
    return found


def _read_min_version(value: object, scope: Scope) -> dict[str, str]:
    data = {} if value is None else as_mapping(value, scope, example="server: 1.0, client: 1.0")
    warn_unknown(data, ("server", "client"), scope)
    versions: dict[str, str] = {}
    for side in ("server", "client"):
        if data.get(side) is not None:
            at = scope.key(side)
            text = as_text(data[side], at).strip()
            if not _VERSION.match(text):
                raise at.error(f"{show(text)} is not a version like 1.2.0")
            versions[side] = text
    return versions


def _read_env(value: object, scope: Scope) -> dict[str, StackatoEnvVar]:
    if value is None:
        return {}
    data = as_mapping(value, scope, example="NAME: value or NAME: {default: value}")
    for name in data:
        if is_reserved_env(name):
            raise scope.key(name).error("is set by the platform; choose another name")
    return {name: _read_env_var(declared, scope.key(name)) for name, declared in data.items()}


def _read_env_var(value: object, scope: Scope) -> StackatoEnvVar:
    if value is None:
        return StackatoEnvVar()
    if not isinstance(value, dict):
        return StackatoEnvVar(default=env_value(value, scope))
    data = as_mapping(value, scope)
    warn_unknown(data, _ENV_VAR_KEYS, scope)

    def flag(key: str) -> bool:
        return False if data.get(key) is None else as_bool(data[key], scope.key(key))

    default = data.get("default")
    choices = [] if data.get("choices") is None else as_list(data["choices"], scope.key("choices"))
    declared = StackatoEnvVar(
        default=None if default is None else env_value(default, scope.key("default")),
        required=flag("required"),
        hidden=flag("hidden"),
        inherit=flag("inherit"),
        prompt=None if data.get("prompt") is None else as_text(data["prompt"], scope.key("prompt")),
        choices=[env_value(c, scope.key("choices").item(i)) for i, c in enumerate(choices)],
    )
    if declared.choices and declared.default not in (None, *declared.choices):
        options = ", ".join(show(choice) for choice in declared.choices)
        raise scope.key("default").error(
            f"{show(declared.default)} is not one of the choices {options}"
        )
    return declared


def merge_declared_env(
    declared: Mapping[str, StackatoEnvVar], env: Mapping[str, str], scope: Scope
) -> dict[str, str]:
    """Fill `env` from declared defaults (explicit env wins); required ones must get a value."""
    merged = dict(env)
    for name, var in declared.items():
        if name in merged:
            continue
        if var.default is not None:
            merged[name] = var.default
        elif var.required:
            raise scope.key(name).error("is required but has no default; give it a value in env:")
    return merged


def version_key(text: str) -> tuple[int, ...]:
    """`1.2.3` → (1, 2, 3); trailing zeros dropped so 1.0 == 1; unparsable → ()."""
    match = _VERSION.match(text.strip())
    parts = [int(part) for part in match.group(1).split(".")] if match else []
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def check_min_version(spec: AppSpec, *, server_version: str, client_version: str) -> None:
    """Refuse an app whose `stackato.min_version` is newer than this server or client."""
    if spec.stackato is None:
        return
    for side, needed, actual in (
        ("server", spec.stackato.min_version_server, server_version),
        ("client", spec.stackato.min_version_client, client_version),
    ):
        if needed is not None and version_key(actual) < version_key(needed):
            raise ManifestError(
                spec.name,
                f"needs a {side} of version {needed} or newer; this {side} is {actual}",
                field=f"stackato.min_version.{side}",
            )
