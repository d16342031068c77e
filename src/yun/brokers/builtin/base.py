"""What a built-in service backend does, whatever it runs.

The OSB layer (`yun.brokers.builtin.osb`) owns the protocol: API version and credential
checks, idempotency (200 for an identical repeat, 409 for a conflict, 410 for a gone
instance), asynchronous operations and their `last_operation`. A backend only does the work,
blocking until it is done, and must be safe to call again with the same arguments (a platform
restart in the middle of an operation repeats it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class BackendError(Exception):
    """A backend could not do what was asked; the message is shown to the user as it is."""


@dataclass(frozen=True)
class PlanSpec:
    id: str
    name: str
    description: str
    free: bool = True
    metadata: Mapping[str, Any] = field(default_factory=dict)
    maximum_polling_duration: int = 600
    """Seconds the platform waits for an asynchronous operation before it calls it failed: a
    hung backend turns into a failed operation with its reason, not a wait without end."""


@dataclass(frozen=True)
class OfferingSpec:
    """One entry of the broker's catalog (`/v2/catalog` services[])."""

    id: str
    name: str
    description: str
    plans: Sequence[PlanSpec]
    tags: Sequence[str] = ()
    bindable: bool = True
    plan_updateable: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def plan(self, plan_id: str) -> PlanSpec | None:
        return next((plan for plan in self.plans if plan.id == plan_id), None)


class ServiceBackend(Protocol):
    """Runs the servers of one offering. Instance and binding ids are the platform's guids."""

    offering: OfferingSpec

    def provision(self, instance_id: str, *, plan_id: str, parameters: Mapping[str, Any]) -> None:
        """Create the instance's server or database and wait until it accepts connections."""
        ...

    def update(self, instance_id: str, *, plan_id: str, parameters: Mapping[str, Any]) -> None:
        """Move the instance to another plan or parameters, keeping its data."""
        ...

    def deprovision(self, instance_id: str) -> None:
        """Stop the instance's server and delete its data; nothing to do if already gone."""
        ...

    def bind(
        self, instance_id: str, binding_id: str, *, parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Credentials for one binding: at least `uri`, `host`, `port`, `password`; the same
        credentials when called again for the same binding."""
        ...

    def unbind(self, instance_id: str, binding_id: str) -> None:
        """Revoke the binding's credentials; nothing to do if already gone."""
        ...

    def backup(self, instance_id: str, target: Path) -> str:
        """Write a dump of the instance's data to `target`; return its format
        (e.g. "pg_dump-custom", "redis-rdb")."""
        ...

    def restore(self, instance_id: str, source: Path) -> None:
        """Replace the instance's data with the dump in `source` (as `backup` wrote it)."""
        ...

    def usage(self, instance_id: str) -> Mapping[str, float] | None:
        """What the instance holds now, for the metrics: `size_bytes` (its data) and
        `connections` (clients connected, the platform's own not counted); None when this
        backend holds no such instance or its server is not running."""
        ...

    def ensure_running(self) -> None:
        """Start (or adopt, after a platform restart) the server of every provisioned instance
        and restart any that died. Called at start and periodically; cheap when all is well."""
        ...

    def stop(self) -> None:
        """Stop every server this backend runs, keeping their data (`yun server stop --all`)."""
        ...
