"""Reading one field of untrusted YAML/JSON into a checked Python value.

A `Scope` remembers where in the document we are (``applications[0].processes[1]``) so that every
type check below can raise a `ManifestError` or record a warning that names the exact field. The
section parsers (applications, processes, routes, Stackato) are written only in terms of these
helpers, which keeps the wording of messages consistent across the package.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from yun.manifest.errors import ManifestError, kind, show
from yun.manifest.sizes import parse_size

_DIGITS = re.compile(r"^[+-]?\d+$")
T = TypeVar("T")


@dataclass(frozen=True)
class Scope:
    """A position in a document: the source name, the field path and where warnings go."""

    source: str
    path: str = ""
    warnings: list[str] = field(default_factory=list)
    # Keys of an application that came from deprecated top-level defaults: report them there.
    inherited: frozenset[str] = frozenset()

    def key(self, name: str) -> Scope:
        top = not self.path or name in self.inherited
        return Scope(self.source, name if top else f"{self.path}.{name}", self.warnings)

    def item(self, index: int) -> Scope:
        return Scope(self.source, f"{self.path}[{index}]", self.warnings)

    def error(self, message: str) -> ManifestError:
        return ManifestError(self.source, message, field=self.path)

    def warn(self, message: str) -> None:
        where = f"{self.source}: {self.path}" if self.path else self.source
        self.warnings.append(f"{where}: {' '.join(message.split())}")


def warn_unknown(data: Mapping[str, object], known: Collection[str], scope: Scope) -> None:
    """Warn, never fail, about keys this platform does not understand."""
    for name in data:
        if name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
        hint = f" (did you mean {close[0]}?)" if close else ""
        scope.key(name).warn(f"unknown key, ignored{hint}")


def optional(
    data: Mapping[str, object], key: str, scope: Scope, read: Callable[[object, Scope], T]
) -> T | None:
    """`read` the value at `key`, or None when the key is absent or empty."""
    value = data.get(key)
    return None if value is None else read(value, scope.key(key))


def as_mapping(value: object, scope: Scope, *, example: str = "key: value") -> dict[str, object]:
    if not isinstance(value, dict):
        raise scope.error(f"expected a mapping ({example}), not {kind(value)}")
    return {str(k): v for k, v in value.items()}


def as_list(value: object, scope: Scope, *, example: str = "- item") -> list[object]:
    if not isinstance(value, list):
        raise scope.error(f"expected a list ({example}), not {kind(value)}")
    return value


def as_text(value: object, scope: Scope, *, allow_empty: bool = False) -> str:
    """A string; numbers are accepted as their text since YAML turns `1.0` into a float."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise scope.error(f"expected a string, not {kind(value)}")
    text = value if isinstance(value, str) else repr(value)
    if not allow_empty and not text.strip():
        raise scope.error("must not be empty")
    return text


def as_text_list(value: object, scope: Scope) -> list[str]:
    """A list of strings; a single string is read as a one-item list."""
    if isinstance(value, str):
        return [as_text(value, scope)]
    items = as_list(value, scope)
    return [as_text(item, scope.item(i)) for i, item in enumerate(items)]


def as_count(value: object, scope: Scope) -> int:
    """A number of instances: 0 or more."""
    return as_whole(value, scope, minimum=0)


def as_whole(value: object, scope: Scope, *, minimum: int) -> int:
    """A whole number; digit strings count too, since ((vars)) inside text arrive as strings."""
    if isinstance(value, bool):
        raise scope.error(f"{show(value)} is not a whole number")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _DIGITS.match(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int):
        raise scope.error(f"{show(value)} is not a whole number")
    if value < minimum:
        raise scope.error(f"{value} is too small; use {minimum} or more")
    return value


def as_bool(value: object, scope: Scope) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise scope.error(f"{show(value)} is not true or false")


def as_size(value: object, scope: Scope) -> int:
    """Megabytes, from "256M", "1G", "512MB" or a bare number of megabytes."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise scope.error(f"{show(value)} is not a size like 256M or 1G")
    try:
        megabytes = parse_size(value)
    except ValueError as exc:
        raise scope.error(str(exc)) from None
    if megabytes < 1:
        raise scope.error(f"{show(value)} is too small; use at least 1M")
    return megabytes


def env_value(value: object, scope: Scope) -> str:
    """An environment value as Cloud Foundry stores it: always a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value)
    if value is None:
        raise scope.error('has no value; write "" for an empty string')
    if isinstance(value, dict | list):
        raise scope.error(f"{kind(value)} is not allowed here; use a string (for example JSON)")
    return str(value)  # dates and times from YAML keep their written form


def is_reserved_env(name: str) -> bool:
    """Names the platform sets itself, which Cloud Foundry refuses in app env."""
    return name == "PORT" or name.startswith("VCAP_")


def plain(value: object) -> object:
    """A JSON-safe deep copy (YAML may produce dates and non-string keys)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
