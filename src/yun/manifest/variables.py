"""`((name))` variable substitution, as `cf push --vars-file` and `--var` do it.

Values come from vars files (later files win) and then from `--var name=value` pairs (which win
over files). Substitution runs on the raw YAML data before validation, so a whole-value
``instances: ((count))`` takes the variable's own type, while ``((host)).example.com`` splices the
value into a string. A variable with no value is an error, never an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from yun.manifest.documents import load_yaml
from yun.manifest.errors import ManifestError, kind

_VARIABLE = re.compile(r"\(\(\s*([-\w./]+)\s*\)\)")


def load_variables(
    vars_files: Sequence[Path], variables: Mapping[str, str] | None, *, warnings: list[str]
) -> dict[str, object]:
    """Merge vars files in order, then explicit `--var` values on top."""
    values: dict[str, object] = {}
    for path in vars_files:
        source = str(path)
        data = load_yaml(path, source=source, warnings=warnings)
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ManifestError(source, f"expected a mapping (name: value), not {kind(data)}")
        values.update({str(k): v for k, v in data.items()})
    values.update(variables or {})
    return values


def substitute(data: object, values: Mapping[str, object], *, source: str) -> object:
    """Return `data` with every ``((name))`` in string values (not keys) replaced."""
    if isinstance(data, dict):
        return {k: substitute(v, values, source=source) for k, v in data.items()}
    if isinstance(data, list):
        return [substitute(v, values, source=source) for v in data]
    if isinstance(data, str):
        return _substitute_text(data, values, source=source)
    return data


def _lookup(name: str, values: Mapping[str, object], source: str) -> object:
    if name not in values:
        raise ManifestError(
            source, f"(({name})) has no value; pass --var {name}=... or --vars-file"
        )
    return values[name]


def _substitute_text(text: str, values: Mapping[str, object], *, source: str) -> object:
    whole = _VARIABLE.fullmatch(text.strip())
    if whole is not None:
        return _lookup(whole.group(1), values, source)

    def splice(match: re.Match[str]) -> str:
        name = match.group(1)
        value = _lookup(name, values, source)
        if isinstance(value, dict | list) or value is None:
            raise ManifestError(
                source, f"(({name})) is {kind(value)} and cannot be part of a longer string"
            )
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return _VARIABLE.sub(splice, text)
