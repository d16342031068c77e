"""What runtime versions an app asks for, read from its files as its own tools read them.

Python, in the order Heroku's and Cloud Foundry's buildpacks honour them: `.python-version`
(pyenv's and uv's file: the first line that is not blank or a `#` comment; `3.13`, `3.13.1`,
`python-3.13`, `cpython-3.13`), `runtime.txt` (`python-3.13.1`), Pipfile's
`[requires] python_version`/`python_full_version`, then pyproject.toml's `requires-python`
(a PEP 440 specifier such as `>=3.11,<3.14`). The first file found decides. Node.js:
package.json's `engines.node`, an npm semver range (`^20`, `>=18 <23`, `20.x`, `18 || 20`).
Go: go.mod's `go` directive, the oldest Go that builds the module.

A version given as `X.Y` or `X.Y.Z` is satisfied by any runtime of the same `X.Y`: stacks carry
the patch release of their Debian suite, and an exact patch pin is reported but not enforced.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from yun.stacks.semver import NodeRange


class DeclarationError(ValueError):
    """A declaration that cannot be read; the message names the file."""


@dataclass(frozen=True)
class Declaration:
    """One runtime an app asks for: `python` or `node`, the file and the text it gave."""

    runtime: str
    source: str
    wanted: str
    accepts: Callable[[str], bool]

    def describe(self) -> str:
        return f"{self.source} asks for {RUNTIME_NAMES[self.runtime]} {self.wanted}"


RUNTIME_NAMES = {"python": "Python", "node": "Node.js", "go": "Go"}
_PLAIN_VERSION = re.compile(r"^(?:c?python-?)?(\d+)(?:\.(\d+))?(?:\.(\d+))?$", re.IGNORECASE)


def read(app_dir: Path) -> list[Declaration]:
    """Every runtime the app at `app_dir` declares (at most one per runtime)."""
    found = [_python(app_dir), _node(app_dir), _go(app_dir)]
    return [declaration for declaration in found if declaration is not None]


def _python(app_dir: Path) -> Declaration | None:
    pin = app_dir / ".python-version"
    if pin.is_file():
        lines = [line.strip() for line in _text(pin).splitlines()]
        wanted = next((line for line in lines if line and not line.startswith("#")), "")
        if wanted:
            return _plain("python", ".python-version", wanted)
    runtime = app_dir / "runtime.txt"
    if runtime.is_file():
        wanted = _text(runtime).strip()
        if wanted:
            return _plain("python", "runtime.txt", wanted)
    pipfile = app_dir / "Pipfile"
    if pipfile.is_file():
        requires = _table(_toml(pipfile), "requires")
        version = requires.get("python_full_version") or requires.get("python_version")
        if isinstance(version, str) and version.strip():
            return _plain("python", "Pipfile", version.strip())
    pyproject = app_dir / "pyproject.toml"
    if pyproject.is_file():
        specifier = _table(_toml(pyproject), "project").get("requires-python")
        if isinstance(specifier, str) and specifier.strip():
            return _specifier("pyproject.toml requires-python", specifier.strip())
    return None


def _node(app_dir: Path) -> Declaration | None:
    package = app_dir / "package.json"
    if not package.is_file():
        return None
    try:
        data = json.loads(_text(package))
    except ValueError as exc:
        raise DeclarationError(f"package.json is not valid JSON: {exc}") from exc
    engines = data.get("engines") if isinstance(data, dict) else None
    wanted = engines.get("node") if isinstance(engines, dict) else None
    if not isinstance(wanted, str) or not wanted.strip():
        return None
    try:
        node_range = NodeRange(wanted)
    except ValueError as exc:
        raise DeclarationError(f"package.json engines.node: {exc}") from exc
    return Declaration("node", "package.json engines.node", wanted.strip(), node_range.accepts)


def _go(app_dir: Path) -> Declaration | None:
    """go.mod's `go` directive: the oldest Go that builds the module (Go 1.21 and later treat
    it as a minimum, and this buildpack never downloads another toolchain)."""
    module = app_dir / "go.mod"
    if not module.is_file():
        return None
    match = re.search(r"^go\s+(\d+(?:\.\d+){1,2})\s*$", _text(module), re.MULTILINE)
    if match is None:
        return None
    wanted = match.group(1)
    oldest = _numbers(wanted)

    def accepts(version: str) -> bool:
        return _numbers(version) >= oldest

    return Declaration("go", "go.mod", f">= {wanted}", accepts)


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def _plain(runtime: str, source: str, wanted: str) -> Declaration:
    match = _PLAIN_VERSION.match(wanted)
    if match is None:
        raise DeclarationError(
            f"{source}: {wanted!r} is not a Python version (write it as 3.13 or 3.13.1)"
        )
    major, minor = match.group(1), match.group(2)

    def accepts(version: str) -> bool:
        parts = version.split(".")
        if minor is None:
            return parts[0] == major
        return parts[:2] == [major, minor]

    shown = ".".join(part for part in match.groups() if part is not None)
    return Declaration(runtime, source, shown, accepts)


def _specifier(source: str, wanted: str) -> Declaration:
    try:
        specifier = SpecifierSet(wanted)
    except InvalidSpecifier as exc:
        raise DeclarationError(f"{source}: {wanted!r} is not a version specifier") from exc

    def accepts(version: str) -> bool:
        try:
            return Version(version) in specifier
        except InvalidVersion:
            return False

    return Declaration("python", source, wanted, accepts)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DeclarationError(f"{path.name}: cannot be read: {exc}") from exc


def _table(document: dict[str, Any], name: str) -> dict[str, Any]:
    table = document.get(name)
    return table if isinstance(table, dict) else {}


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise DeclarationError(f"{path.name} is not valid TOML: {exc}") from exc
