"""Choosing the stack an app stages and runs on.

The manifest's `stack:` (or `yun push -s`) names one; its runtimes must then satisfy what the
app declares. Without it, the default stack is taken when it satisfies every declaration, else
the first other stack that does, newest suite first. A declaration no stack satisfies fails the
staging in one line naming the file, the version asked for and the versions there are, as
Heroku does for a Python version it does not offer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from yun.stacks.declarations import RUNTIME_NAMES, Declaration


class NoStackError(ValueError):
    """No stack gives the app what it asks for; the message is one line for the user."""


@dataclass(frozen=True)
class Choice:
    stack: str
    reason: str  # one line, shown in the staging output


def choose(
    declarations: Sequence[Declaration],
    *,
    offered: Mapping[str, Mapping[str, str]],
    default: str,
    requested: str | None = None,
) -> Choice:
    """`offered` maps each stack to its runtime versions, in order of preference after the
    default (newest first)."""
    if requested:
        if requested not in offered:
            names = ", ".join(offered)
            raise NoStackError(f"there is no stack {requested!r} (stacks: {names})")
        for declaration in declarations:
            version = offered[requested].get(declaration.runtime, "")
            if not version or not declaration.accepts(version):
                has = _has(declaration.runtime, version)
                raise NoStackError(f"{declaration.describe()}, but the stack {requested} {has}")
        return Choice(requested, f"Using stack {requested} (named by the app's manifest)")
    order = [default, *(name for name in offered if name != default)]
    for name in order:
        versions = offered.get(name, {})
        if all(d.accepts(versions.get(d.runtime, "") or "0") for d in declarations):
            return Choice(name, _reason(name, declarations, versions, default=default))
    for declaration in declarations:
        if not any(
            declaration.accepts(v.get(declaration.runtime) or "0") for v in offered.values()
        ):
            raise NoStackError(f"{declaration.describe()}; {_available(declaration, offered)}")
    asked = " and ".join(d.describe() for d in declarations)
    raise NoStackError(f"{asked}; no one stack has both")


def _reason(
    name: str, declarations: Sequence[Declaration], versions: Mapping[str, str], *, default: str
) -> str:
    if not declarations:
        return f"Using stack {name} (the default)"
    gives = ", ".join(
        f"{RUNTIME_NAMES[d.runtime]} {versions.get(d.runtime, '?')}" for d in declarations
    )
    why = "; ".join(d.describe() for d in declarations)
    kind = "the default, " if name == default else ""
    return f"Using stack {name} ({kind}{gives}): {why}"


def _has(runtime: str, version: str) -> str:
    return (
        f"has {RUNTIME_NAMES[runtime]} {version}" if version else f"has no {RUNTIME_NAMES[runtime]}"
    )


def _available(declaration: Declaration, offered: Mapping[str, Mapping[str, str]]) -> str:
    versions = [
        f"{v[declaration.runtime]} ({name})"
        for name, v in offered.items()
        if v.get(declaration.runtime)
    ]
    runtime = RUNTIME_NAMES[declaration.runtime]
    if not versions:
        return f"no stack has {runtime}"
    return f"available: {runtime} {', '.join(versions)}"
