"""The one interface between a container driver and whatever wires its network namespace.

A driver (runc) creates the instance's network namespace, asks a `ContainerNetwork` to `attach`
it before the app starts and to `detach` it after the app stopped. The lease tells the driver
(and through it the router) the address the instance listens on. Keeping this a Protocol lets the
driver's tests use a fake and lets a later implementation (another CNI config, Kubernetes) slot in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class NetworkLease:
    """The address an attached container got: `address`/`prefix` on `interface`, routed via
    `gateway` (the bridge's address on the host)."""

    address: str
    gateway: str
    prefix: int
    interface: str = "eth0"
    dns: tuple[str, ...] = ()
    """Nameservers the container's resolv.conf should name (empty: the host's resolv.conf)."""


class ContainerNetwork(Protocol):
    def attach(self, container_id: str, netns_path: Path) -> NetworkLease:
        """Give the namespace an interface and an address; idempotent for the same id."""
        ...

    def detach(self, container_id: str, netns_path: Path) -> None:
        """Release what `attach` took, even if the namespace is already gone; idempotent."""
        ...

    def release_stale(
        self, alive_container_ids: set[str], *, keep_prefixes: tuple[str, ...] = ()
    ) -> list[str]:
        """Release every container not alive, except those whose id starts with one of
        `keep_prefixes`; returns the ids released."""
        ...


class NetworkError(RuntimeError):
    """Wiring a container failed; the message says which plugin or command and why.

    `code` is the CNI error code when a plugin reported one (1 incompatible version, 3 unknown
    container, 7 invalid config, 11 try again later, 100+ plugin-specific).
    """

    def __init__(self, message: str, *, code: int | None = None, details: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.details = details
