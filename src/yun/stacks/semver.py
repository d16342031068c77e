"""npm's semver ranges, enough to read package.json's `engines.node` as npm does.

A range is alternatives joined by `||`; each is comparators joined by spaces, all of which must
hold. Partial versions, x-ranges, `~`, `^` and hyphen ranges desugar as node-semver documents
them: `18` is `>=18.0.0 <19.0.0-0`, `^0.2.3` is `>=0.2.3 <0.3.0`, `~1.2` is `>=1.2.0 <1.3.0`,
`<=1.2` is `<1.3.0`, `1.2 - 2` is `>=1.2.0 <3.0.0`. Prerelease tags are ignored.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable

Version = tuple[int, int, int]
Comparator = tuple[Callable[[Version, Version], bool], Version]

_PARTIAL = re.compile(r"^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:[-+].*)?$")
_COMPARATOR = re.compile(r"^(<=|>=|<|>|=|~>|~|\^)?\s*(.*)$")
_OPERATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def parse_version(text: str) -> Version:
    """`v20.11.1` → (20, 11, 1); missing parts are 0."""
    numbers = [int(part) for part in re.findall(r"\d+", text.split("-")[0])[:3]]
    if not numbers:
        raise ValueError(f"{text!r} is not a version")
    return _floor(list(numbers))


class NodeRange:
    """One `engines.node` range; `accepts("20.11.1")` says whether that version satisfies it."""

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        self._alternatives = [_comparators(part) for part in self.text.split("||")]

    def accepts(self, version: str) -> bool:
        wanted = parse_version(version)
        return any(all(test(wanted, bound) for test, bound in alt) for alt in self._alternatives)


def _partial(text: str) -> list[int | None]:
    match = _PARTIAL.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a version range npm understands")
    parts: list[int | None] = []
    for group in match.groups():
        if group is None or group in "xX*":
            break
        parts.append(int(group))
    return parts


def _bump(parts: list[int | None]) -> Version:
    """The first version above every version matching the partial `parts` (1.2 → 1.3.0)."""
    numbers = [int(part or 0) for part in parts]
    numbers[-1] += 1
    padded = [*numbers, 0, 0, 0]
    return padded[0], padded[1], padded[2]


def _floor(parts: list[int] | list[int | None]) -> Version:
    padded = [int(part or 0) for part in parts] + [0, 0, 0]
    return padded[0], padded[1], padded[2]


def _comparators(text: str) -> list[Comparator]:
    text = text.strip()
    hyphen = re.match(r"^(\S+)\s+-\s+(\S+)$", text)
    if hyphen:
        low, high = _partial(hyphen.group(1)), _partial(hyphen.group(2))
        result: list[Comparator] = [(operator.ge, _floor(low))]
        if len(high) == 3:
            result.append((operator.le, _floor(high)))
        elif high:
            result.append((operator.lt, _bump(high)))
        return result
    tokens = re.sub(r"(<=|>=|<|>|=|~>|~|\^)\s+", r"\1", text).split()
    comparators: list[Comparator] = []
    for token in tokens or ["*"]:
        comparators += _desugar(token)
    return comparators


def _desugar(token: str) -> list[Comparator]:
    match = _COMPARATOR.match(token)
    assert match is not None  # the pattern accepts any string
    sign, rest = match.group(1) or "", match.group(2)
    parts = _partial(rest)
    if not parts:  # *, x: anything (and `<*`, nothing, is not worth telling apart)
        return []
    if sign in ("", "="):
        if len(parts) == 3:
            return [(operator.eq, _floor(parts))]
        return [(operator.ge, _floor(parts)), (operator.lt, _bump(parts))]
    if sign in ("~", "~>"):
        upper = parts[:2] if len(parts) >= 2 else parts[:1]
        return [(operator.ge, _floor(parts)), (operator.lt, _bump(upper))]
    if sign == "^":
        first_nonzero = next((i for i, part in enumerate(parts) if part), len(parts) - 1)
        return [(operator.ge, _floor(parts)), (operator.lt, _bump(parts[: first_nonzero + 1]))]
    if len(parts) < 3 and sign in (">", "<="):  # >1.2 is >=1.3.0; <=1.2 is <1.3.0
        return [(operator.ge if sign == ">" else operator.lt, _bump(parts))]
    return [(_OPERATORS[sign], _floor(parts))]
