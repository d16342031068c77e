"""Where a platform's apps stage and run: on built stacks (the runc driver), or on the host's
own userland (the process driver, which needs no root and so cannot use a stack's root).

The build controller asks its `Userlands` which runtimes each choice offers, picks one with
`choosing.choose`, and has it prepared (a stack is built on first use) before staging. Cloud
Foundry manifests often name `cflinuxfs3` or `cflinuxfs4`; those mean "the platform's default"
here, as the stacks differ but the apps do not care.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from yun.stacks.building import StackStore
from yun.stacks.catalog import HOST, STACKS
from yun.stacks.versions import host_versions

Output = Callable[[str], None]
CLOUD_FOUNDRY_STACKS = ("cflinuxfs3", "cflinuxfs4")


class Userlands(Protocol):
    default: str
    hint: str
    """Added to a "no stack gives that version" failure: where other versions could come from."""

    def offered(self) -> dict[str, dict[str, str]]:
        """Each choice's runtime versions, default first."""
        ...

    def requested(self, name: str | None, *, output: Output) -> str | None:
        """The stack a manifest names, as this platform reads it (None: choose)."""
        ...

    def prepare(self, name: str, *, output: Output) -> Path | None:
        """The root to stage on (built first if need be); None for the host's userland."""
        ...


class HostUserland:
    """The process driver's (or `YUN_STACK=host`): every app stages and runs on the host's
    own programs."""

    default = HOST

    def __init__(self, *, why: str = "process driver: apps run as host processes") -> None:
        self.why = why
        self.hint = (
            f" (apps run on this machine's own programs here: {why}; the stacks, with other"
            " versions, are for the runc driver, as root)"
        )

    def offered(self) -> dict[str, dict[str, str]]:
        return {HOST: dict(_host_versions())}

    def requested(self, name: str | None, *, output: Output) -> str | None:
        if name and name != HOST:
            output(
                f"Note: the manifest names the stack {name}; this platform runs apps on the "
                f"host's own userland ({self.why}), which is used instead"
            )
        return None

    def prepare(self, name: str, *, output: Output) -> Path | None:
        output(f"Using the host's userland ({self.why})")
        return None


class BuiltStacks:
    """The runc driver's: Debian stacks from `catalog`, built on first use into `store`."""

    def __init__(self, store: StackStore, *, default: str) -> None:
        if default not in STACKS:
            names = ", ".join(STACKS)
            raise ValueError(f"YUN_STACK={default!r} is not a stack (stacks: {names})")
        self.store = store
        self.default = default
        self.hint = ""

    def offered(self) -> dict[str, dict[str, str]]:
        names = [self.default, *sorted((n for n in STACKS if n != self.default), key=_newest)]
        offered: dict[str, dict[str, str]] = {}
        for name in names:
            built = self.store.built(name)
            runtimes = built.info.get("runtimes") if built is not None else None
            offered[name] = dict(runtimes or STACKS[name].runtimes)
        return offered

    def requested(self, name: str | None, *, output: Output) -> str | None:
        if name in CLOUD_FOUNDRY_STACKS:
            output(f"Note: {name} is Cloud Foundry's; using this platform's stacks instead")
            return None
        return name or None

    def prepare(self, name: str, *, output: Output) -> Path | None:
        self.store.ensure(name, output=output)
        return self.store.root / name / "current" / "rootfs"


def _newest(name: str) -> int:
    """Newest suite first: testing, then the releases by number, descending."""
    order = ["testing", "forky", "trixie", "bookworm", "bullseye"]
    return order.index(name) if name in order else len(order)


@functools.cache
def _host_versions() -> tuple[tuple[str, str], ...]:
    return tuple(sorted(host_versions().items()))
