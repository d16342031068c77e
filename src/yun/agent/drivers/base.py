"""The one interface between the supervisor and whatever actually runs an instance.

The supervisor decides *when* to start, check, stop and restart; a driver knows *how*: the
`process` driver runs the droplet as a host process group, a `runc` driver (later) will run it in
a container. Handles are plain data so the supervisor can persist them and a later agent, in a
new Python process, can hand them back to `adopt` and keep supervising the same instances.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from yun.agent.specs import InstanceSpec


@dataclass(frozen=True)
class Handle:
    """A started instance, as far as the supervisor needs to know it."""

    run_dir: Path
    pid: int | None
    address: str | None
    port: int | None
    logs: Mapping[str, Path]  # stream name ("OUT", "ERR") -> file the driver appends output to
    data: Mapping[str, Any] = field(default_factory=dict)  # driver-specific, JSON-serialisable
    ports: Mapping[str, int] = field(default_factory=dict)
    """The extra ports of `InstanceSpec.ports`, by name, where `address` is reached on them."""


@dataclass(frozen=True)
class ExitStatus:
    code: int | None  # 128 + N when killed by signal N; None when nobody could tell
    reason: str  # for people: "exited with 1", "pre-running hook failed"


class Usage(NamedTuple):
    """What a live instance uses now, in bytes; None where the driver cannot tell.

    A named tuple, so `memory, disk = driver.usage(handle)` reads as naturally as the fields.
    """

    memory_bytes: int | None
    disk_bytes: int | None


class Driver(Protocol):
    name: str

    def start(
        self,
        spec: InstanceSpec,
        *,
        run_dir: Path,
        env: Mapping[str, str],
        credentials: Path | None = None,
    ) -> Handle:
        """Start the instance with `env` plus its placement (directories, PORT, a port for
        each name of `spec.ports` in `STACKATO_HARBOR_<NAME>`); don't wait. `credentials`, a
        folder holding its identity (`identity.CERT_FILE`, `KEY_FILE`), is shown to the app at
        `CF_INSTANCE_CERT` and `CF_INSTANCE_KEY`."""
        ...

    def alive(self, handle: Handle) -> bool: ...

    def exit_fd(self, handle: Handle) -> int | None:
        """A descriptor that becomes readable when the live instance's main process exits,
        owned by the driver (the agent sleeps on it instead of asking `alive` every half
        second); None where the driver has none, or needs `alive` asked anyway."""
        ...

    def ready(self, handle: Handle) -> bool:
        """Whether the app itself has started (pre-running hooks are done): health checks and
        the health timeout begin only then."""
        ...

    def exit_status(self, handle: Handle) -> ExitStatus:
        """Why a dead instance ended; only meaningful once `alive` said False."""
        ...

    def signal(self, handle: Handle, signum: int) -> None: ...

    def stop(self, handle: Handle, *, grace: float) -> None:
        """SIGTERM, SIGKILL after `grace`; returns when nothing of the instance runs. Blocks."""
        ...

    def remove(self, handle: Handle) -> None:
        """Delete what the instance left on disk; called after `stop` and the last log read."""
        ...

    def usage(self, handle: Handle, *, disk: bool = True) -> Usage | None:
        """Memory and disk the instance uses now, measured live for `yun app`; None when the
        driver cannot tell. Without `disk`, the disk is not walked (`disk_bytes` is None): the
        metrics sample memory every ten seconds and disk once a minute. Must not fail when the
        instance has just died or been removed."""
        ...

    def cpu_seconds(self, handle: Handle) -> float | None:
        """CPU time the live instance has used so far (the autoscaler takes its rate); None
        when the driver cannot tell. Must not fail when the instance has just gone."""
        ...

    def listening_ports(self, handle: Handle) -> set[int]:
        """TCP ports the live instance listens on (in its own network namespace where it has
        one), so a failed start can say where an app listens instead of $PORT. Called only
        when a start failed; empty when the driver cannot tell or the instance is gone."""
        return set()

    def keep_staged(self, droplet: Path, *, tree: Path, root: Path) -> None:
        """`droplet` was just packed from `tree` (`app/`, `deps/`, `staging_info.json`) on
        this machine: a driver that keeps unpacked droplets under `root` (the agent's) may move
        the tree there, so instances start without unpacking. Doing nothing is correct."""
        ...

    def to_dict(self, handle: Handle) -> dict[str, Any]: ...

    def adopt(self, saved: Mapping[str, Any]) -> Handle | None:
        """A handle from a `to_dict` of an earlier agent, or None if the record is unusable.

        A handle of an instance that died meanwhile is still returned: the supervisor then sees
        a dead instance and handles it as the crash it was.
        """
        ...

    def sweep(self, keep: Sequence[Handle]) -> list[str]:
        """After adoption: remove what earlier agents left that no handle in `keep` accounts for
        (containers whose run dir lost its state, addresses of containers that are gone).
        Returns what it removed; never raises for one leftover."""
        ...


def handle_to_dict(handle: Handle) -> dict[str, Any]:
    return {
        "run_dir": str(handle.run_dir),
        "pid": handle.pid,
        "address": handle.address,
        "port": handle.port,
        "logs": {name: str(path) for name, path in handle.logs.items()},
        "data": dict(handle.data),
        "ports": dict(handle.ports),
    }


def handle_from_dict(saved: Mapping[str, Any]) -> Handle:
    """Raises KeyError, TypeError or ValueError on a malformed record. Records of agents from
    before extra ports existed have no "ports": they had none."""
    pid = saved["pid"]
    port = saved["port"]
    return Handle(
        run_dir=Path(saved["run_dir"]),
        pid=None if pid is None else int(pid),
        address=saved["address"],
        port=None if port is None else int(port),
        logs={str(name): Path(path) for name, path in dict(saved["logs"]).items()},
        data=dict(saved.get("data") or {}),
        ports={str(name): int(port) for name, port in dict(saved.get("ports") or {}).items()},
    )
