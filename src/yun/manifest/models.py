"""The validated shape of a manifest: what the rest of Yun reads instead of raw YAML.

Every class is a frozen dataclass that serialises to plain JSON (`to_dict`) and back
(`from_dict`), so a parsed application can be stored on a revision, sent over the API and
audited without a second schema. Fields the user left out stay None: the platform, not the
parser, decides defaults such as one instance or 256M of memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

HealthCheckType = Literal["port", "process", "http"]
HEALTH_CHECK_TYPES: tuple[HealthCheckType, ...] = ("port", "process", "http")


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _str_list(value: Any) -> list[str]:
    return [str(item) for item in value or ()]


@dataclass(frozen=True)
class HealthCheck:
    """How the platform decides an instance is healthy."""

    type: HealthCheckType = "port"
    endpoint: str = "/"
    timeout: int | None = None
    invocation_timeout: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HealthCheck:
        kind = str(data.get("type", "port"))
        if kind == "none":
            kind = "process"
        if kind not in HEALTH_CHECK_TYPES:
            raise ValueError(f"unknown health check type {kind!r}")
        return cls(
            type=kind,
            endpoint=str(data.get("endpoint", "/")),
            timeout=_opt_int(data.get("timeout")),
            invocation_timeout=_opt_int(data.get("invocation_timeout")),
        )


def _opt_health(value: Any) -> HealthCheck | None:
    return None if value is None else HealthCheck.from_dict(value)


@dataclass(frozen=True)
class ProcessSpec:
    """One process type of an app (web, worker, ...) with its own command and scale."""

    type: str
    command: str | None = None
    instances: int | None = None
    memory_mb: int | None = None
    disk_mb: int | None = None
    health_check: HealthCheck | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProcessSpec:
        return cls(
            type=str(data["type"]),
            command=_opt_str(data.get("command")),
            instances=_opt_int(data.get("instances")),
            memory_mb=_opt_int(data.get("memory_mb")),
            disk_mb=_opt_int(data.get("disk_mb")),
            health_check=_opt_health(data.get("health_check")),
        )


@dataclass(frozen=True)
class CronSpec:
    """One cron job of an app: `command` runs as a task at the times `expression` names."""

    expression: str
    command: str
    name: str = ""
    overlap: bool = False
    memory_mb: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CronSpec:
        return cls(
            expression=str(data["expression"]),
            command=str(data["command"]),
            name=str(data.get("name") or ""),
            overlap=bool(data.get("overlap", False)),
            memory_mb=_opt_int(data.get("memory_mb")),
        )


@dataclass(frozen=True)
class StackatoEnvVar:
    """A Stackato `stackato.env` declaration: a default value plus how clients should treat it."""

    default: str | None = None
    required: bool = False
    hidden: bool = False
    inherit: bool = False
    prompt: str | None = None
    choices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StackatoEnvVar:
        return cls(
            default=_opt_str(data.get("default")),
            required=bool(data.get("required", False)),
            hidden=bool(data.get("hidden", False)),
            inherit=bool(data.get("inherit", False)),
            prompt=_opt_str(data.get("prompt")),
            choices=_str_list(data.get("choices")),
        )


@dataclass(frozen=True)
class StackatoSpec:
    """The HPE Stackato extensions of one application (the `stackato:` block)."""

    env: dict[str, StackatoEnvVar] = field(default_factory=dict)
    pre_staging: list[str] = field(default_factory=list)
    post_staging: list[str] = field(default_factory=list)
    pre_running: list[str] = field(default_factory=list)
    pip: list[str] = field(default_factory=list)
    ubuntu: list[str] = field(default_factory=list)
    autoscale: dict[str, Any] | None = None
    min_version_server: str | None = None
    min_version_client: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StackatoSpec:
        autoscale = data.get("autoscale")
        return cls(
            env={str(k): StackatoEnvVar.from_dict(v) for k, v in (data.get("env") or {}).items()},
            pre_staging=_str_list(data.get("pre_staging")),
            post_staging=_str_list(data.get("post_staging")),
            pre_running=_str_list(data.get("pre_running")),
            pip=_str_list(data.get("pip")),
            ubuntu=_str_list(data.get("ubuntu")),
            autoscale=None if autoscale is None else dict(autoscale),
            min_version_server=_opt_str(data.get("min_version_server")),
            min_version_client=_opt_str(data.get("min_version_client")),
        )


@dataclass(frozen=True)
class AppSpec:
    """One validated application: what `yun push` asks the platform to run."""

    name: str
    path: str | None = None
    memory_mb: int | None = None
    disk_mb: int | None = None
    instances: int | None = None
    command: str | None = None
    buildpacks: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    health_check: HealthCheck | None = None
    timeout: int | None = None
    routes: list[str] = field(default_factory=list)
    route_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each route's traffic policy as the manifest gives it (only routes that give one)."""
    random_route: bool = False
    no_route: bool = False
    processes: list[ProcessSpec] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    service_types: dict[str, str] = field(default_factory=dict)
    """Stackato's `services: {name: type}`: what to create for a name that does not exist."""
    docker_image: str | None = None
    docker_username: str | None = None
    stackato: StackatoSpec | None = None
    stack: str | None = None
    runtime: str | None = None
    """The container runtime it asks for (runc, gvisor); None: its space's."""
    cron: list[CronSpec] | None = None
    """Stackato's `cron:` jobs; None when the manifest does not say (a push keeps the app's)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AppSpec:
        stackato = data.get("stackato")
        cron = data.get("cron")
        return cls(
            name=str(data["name"]),
            path=_opt_str(data.get("path")),
            memory_mb=_opt_int(data.get("memory_mb")),
            disk_mb=_opt_int(data.get("disk_mb")),
            instances=_opt_int(data.get("instances")),
            command=_opt_str(data.get("command")),
            buildpacks=_str_list(data.get("buildpacks")),
            env={str(k): str(v) for k, v in (data.get("env") or {}).items()},
            health_check=_opt_health(data.get("health_check")),
            timeout=_opt_int(data.get("timeout")),
            routes=_str_list(data.get("routes")),
            route_options={
                str(route): dict(options)
                for route, options in (data.get("route_options") or {}).items()
                if isinstance(options, Mapping)
            },
            random_route=bool(data.get("random_route", False)),
            no_route=bool(data.get("no_route", False)),
            processes=[ProcessSpec.from_dict(p) for p in data.get("processes") or ()],
            services=_str_list(data.get("services")),
            service_types={str(k): str(v) for k, v in (data.get("service_types") or {}).items()},
            docker_image=_opt_str(data.get("docker_image")),
            docker_username=_opt_str(data.get("docker_username")),
            stackato=None if stackato is None else StackatoSpec.from_dict(stackato),
            stack=_opt_str(data.get("stack")),
            runtime=_opt_str(data.get("runtime")),
            cron=None if cron is None else [CronSpec.from_dict(job) for job in cron],
        )


@dataclass(frozen=True)
class Manifest:
    """A whole manifest file: its applications, plus warnings the user should see."""

    path: str
    applications: list[AppSpec] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        return cls(
            path=str(data["path"]),
            applications=[AppSpec.from_dict(a) for a in data.get("applications") or ()],
            warnings=_str_list(data.get("warnings")),
        )
