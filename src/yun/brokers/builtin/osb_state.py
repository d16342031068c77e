"""What the built-in broker remembers between requests and across restarts.

The platform relies on the broker to answer the same after a restart: an identical provision is
still a 200, a binding still has its credentials, a deprovisioned instance is still 410 Gone.
Everything lives in one JSON file under the broker's state directory, rewritten whole (temp file,
fsync, rename, mode 0600: it holds binding credentials) after every change. The broker serves a
few hundred instances at most, so a whole rewrite is cheap and keeps the file readable.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

IN_PROGRESS = "in progress"
SUCCEEDED = "succeeded"
FAILED = "failed"

PROVISION = "provision"
UPDATE = "update"
DEPROVISION = "deprovision"

FORMAT_VERSION = 1


class StateError(Exception):
    """The state file cannot be read; the broker refuses to start rather than forget."""


@dataclass
class Operation:
    """The last asynchronous operation of an instance, as `last_operation` reports it.

    For an update, `plan_id` and `parameters` are what the instance is moving to, so that a
    restarted broker can repeat the backend call."""

    id: str
    kind: str
    state: str
    description: str = ""
    plan_id: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class Binding:
    service_id: str
    plan_id: str
    parameters: dict[str, Any]
    bind_resource: dict[str, Any]
    credentials: dict[str, Any]


@dataclass
class Instance:
    service_id: str
    plan_id: str
    parameters: dict[str, Any]
    context: dict[str, Any]
    operation: Operation
    provisioned: bool = False  # a provision succeeded once: the instance exists for the platform
    bindings: dict[str, Binding] = field(default_factory=dict)


@dataclass
class BrokerState:
    instances: dict[str, Instance] = field(default_factory=dict)
    # deprovisioned instance id → its deprovision operation, so last_operation can say 410
    gone: dict[str, str] = field(default_factory=dict)
    # offering id → the dump format its backend writes, learnt from the first backup
    backup_formats: dict[str, str] = field(default_factory=dict)

    def forget(self, instance_id: str, *, operation_id: str, keep_gone: int) -> None:
        self.instances.pop(instance_id, None)
        self.gone.pop(instance_id, None)
        self.gone[instance_id] = operation_id
        while len(self.gone) > keep_gone:
            del self.gone[next(iter(self.gone))]


def _instance(data: dict[str, Any]) -> Instance:
    bindings = {key: Binding(**value) for key, value in data.pop("bindings", {}).items()}
    operation = Operation(**data.pop("operation"))
    return Instance(**data, operation=operation, bindings=bindings)


class StateFile:
    """`state.json` in the broker's state directory (created 0700)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "state.json"

    def load(self) -> BrokerState:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return BrokerState()
        try:
            data = json.loads(text)
            if data.get("version") != FORMAT_VERSION:
                raise ValueError(f"format version {data.get('version')!r} is not supported")
            return BrokerState(
                instances={key: _instance(value) for key, value in data["instances"].items()},
                gone=dict(data["gone"]),
                backup_formats=dict(data["backup_formats"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateError(
                f"the built-in broker's state {self.path} is unreadable: {exc}"
            ) from exc

    def save(self, state: BrokerState) -> None:
        data = {"version": FORMAT_VERSION, **asdict(state)}
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".state-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.path)  # mkstemp made it 0600
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
