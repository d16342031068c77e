"""The vocabulary between the agent and whoever tells it what to run.

The instance controller describes each wanted instance as an `InstanceSpec` (one per slot, e.g.
`f"{process_guid}:{index}"`), hands the agent the full set, and learns what actually happens through
`InstanceReport`s sent to an `AgentListener`. Specs are plain data so that they can be written
into an instance's run directory and read back by a later agent that adopts the instance.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from yun.runtimes import DEFAULT_RUNTIME, RUNTIMES
from yun.settings import Timing

HEALTH_CHECK_TYPES = ("port", "http", "process")


@dataclass(frozen=True)
class HealthCheckSpec:
    """How to tell that an instance is up (Cloud Foundry's health-check-type and friends)."""

    type: str = "port"
    endpoint: str = "/"
    timeout: float = Timing.health_timeout  # time allowed to become healthy after start
    invocation_timeout: float = Timing.http_check_timeout  # one probe

    def __post_init__(self) -> None:
        if self.type not in HEALTH_CHECK_TYPES:
            raise ValueError(f"health check type must be one of {HEALTH_CHECK_TYPES}: {self.type}")
        if self.timeout <= 0 or self.invocation_timeout <= 0:
            raise ValueError("health check timeouts must be positive")


@dataclass(frozen=True)
class ImageSpec:
    """An OCI image to run instead of a droplet: its unpacked root and its runtime config.

    `argv` is what the container runs (the image's Entrypoint + Cmd, or a shell running the
    app's own command); `env`, `working_dir` and `user` come from the image; `port` is where
    the app listens (the image's lowest exposed TCP port, else 8080), handed over as PORT.
    """

    rootfs: Path
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str = "/"
    user: str = ""
    port: int = 8080
    reference: str = ""  # where it was pulled from, "HOST/REPO@sha256:…" (what a cluster runs)

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError("an image needs a command: it has neither Entrypoint nor Cmd")
        object.__setattr__(self, "rootfs", Path(self.rootfs))
        object.__setattr__(self, "argv", tuple(self.argv))
        object.__setattr__(self, "env", {str(k): str(v) for k, v in self.env.items()})

    def to_dict(self) -> dict[str, Any]:
        return {
            "rootfs": str(self.rootfs),
            "argv": list(self.argv),
            "env": dict(self.env),
            "working_dir": self.working_dir,
            "user": self.user,
            "port": self.port,
            "reference": self.reference,
        }


@dataclass(frozen=True)
class InstanceSpec:
    """One wanted instance: what to run in a slot and how to check it."""

    slot: str
    app_guid: str
    app_name: str
    process_guid: str
    process_type: str
    index: int
    droplet: Path
    command: str
    env: Mapping[str, str]
    memory_mb: int
    disk_mb: int
    health: HealthCheckSpec = field(default_factory=HealthCheckSpec)
    uris: Sequence[str] = ()
    space_name: str = ""
    org_name: str = ""
    pre_running: Sequence[str] = ()
    image: ImageSpec | None = None  # run this image (runc driver) instead of the droplet
    stack_root: Path | None = None
    """The root filesystem of the app's stack (its `current` link); None: the host's userland.
    The process driver always runs on the host's."""
    ports: Sequence[str] = ()
    """Names of the extra TCP ports the instance listens on (its TCP routes, Stackato's
    harbor); the driver gives each a port and the app finds it in `STACKATO_HARBOR_<NAME>`."""
    space_guid: str = ""  # the instance's identity certificate names them
    org_guid: str = ""
    runtime: str = DEFAULT_RUNTIME  # one of RUNTIMES: what the runc driver runs the bundle with

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"slot {self.slot}: runtime must be one of {RUNTIMES}: {self.runtime}")
        if self.index < 0:
            raise ValueError(f"instance index must not be negative: {self.index}")
        if not self.command.strip():
            raise ValueError(f"slot {self.slot}: empty command")
        # Own copies: a spec is compared and persisted; the caller's later edits must not leak in.
        object.__setattr__(self, "droplet", Path(self.droplet))
        if self.stack_root is not None:
            object.__setattr__(self, "stack_root", Path(self.stack_root))
        object.__setattr__(self, "env", {str(k): str(v) for k, v in self.env.items()})
        object.__setattr__(self, "uris", tuple(self.uris))
        object.__setattr__(self, "pre_running", tuple(self.pre_running))
        object.__setattr__(self, "ports", tuple(str(name) for name in self.ports))
        if len(set(self.ports)) != len(self.ports) or not all(self.ports):
            raise ValueError(f"slot {self.slot}: port names must be unique and not empty")

    def fingerprint(self) -> str:
        """A hash of everything that needs a restart to take effect.

        Routes, names and the health check are left out on purpose: Cloud Foundry does not restart
        an app when they change, and the agent applies a new health check to the running instance.
        """
        identity = {
            "app_guid": self.app_guid,
            "process_guid": self.process_guid,
            "process_type": self.process_type,
            "index": self.index,
            "droplet": str(self.droplet),
            "command": self.command,
            "env": dict(sorted(self.env.items())),
            "memory_mb": self.memory_mb,
            "disk_mb": self.disk_mb,
            "pre_running": list(self.pre_running),
        }
        if self.image is not None:  # absent otherwise: droplet instances keep their fingerprints
            image = self.image.to_dict()
            image.pop("reference", None)  # the bundle is what runs here: same pull, same one
            identity["image"] = image
        if self.ports:  # likewise: instances without extra ports keep their fingerprints
            identity["ports"] = list(self.ports)
        if self.stack_root is not None:  # and those on the host's userland
            identity["stack_root"] = str(self.stack_root)
        if self.runtime != DEFAULT_RUNTIME:  # and those under runc
            identity["runtime"] = self.runtime
        text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(droplet=str(self.droplet), uris=list(self.uris))
        data["pre_running"] = list(self.pre_running)
        data["image"] = self.image.to_dict() if self.image else None
        data["ports"] = list(self.ports)
        data["stack_root"] = None if self.stack_root is None else str(self.stack_root)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InstanceSpec:
        values = dict(data)
        values["droplet"] = Path(values["droplet"])
        values["health"] = HealthCheckSpec(**values.get("health", {}))
        image = values.get("image")
        values["image"] = ImageSpec(**image) if image else None
        if values.get("stack_root"):
            values["stack_root"] = Path(values["stack_root"])
        return cls(**values)


class InstanceState(StrEnum):
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    CRASHED = "CRASHED"
    DOWN = "DOWN"
    STOPPING = "STOPPING"


@dataclass(frozen=True)
class InstanceReport:
    """What the agent knows about one slot; `since` is a wall-clock (epoch) time."""

    slot: str
    instance_guid: str
    state: InstanceState
    address: str | None
    port: int | None
    pid: int | None
    since: float
    crash_count: int
    exit_code: int | None
    reason: str | None
    fingerprint: str
    ports: Mapping[str, int] = field(default_factory=dict)
    """Extra ports the instance listens on, by name (see `InstanceSpec.ports`)."""


class AgentListener(Protocol):
    """Receives what happens to instances; called from the agent's threads, so be quick."""

    def on_state(self, report: InstanceReport) -> None: ...

    def on_crash(self, report: InstanceReport) -> None: ...

    def on_log(
        self, slot: str, instance_index: int, app_guid: str, source: str, line: str, ts: float
    ) -> None: ...
