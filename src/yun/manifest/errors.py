"""The one exception the manifest package raises, so callers never see a traceback.

A user reads these messages in a terminal or an API response, so every error renders as a single
line that names where the problem is: the file (or "request"), the field path inside it such as
``applications[1].memory``, and what is wrong with the value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

_SHOW_LIMIT = 60


class ManifestError(Exception):
    """A manifest (or one application in it) cannot be used as written."""

    def __init__(self, source: str, message: str, *, field: str | None = None) -> None:
        self.source = source
        self.field = field or None
        self.message = " ".join(message.split())
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.field:
            return f"{self.source}: {self.field}: {self.message}"
        return f"{self.source}: {self.message}"


def show(value: object) -> str:
    """Render a value the way the user wrote it (JSON-like), on one short line."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > _SHOW_LIMIT:
        text = text[: _SHOW_LIMIT - 1] + "…"
    return text


def kind(value: object) -> str:
    """Name the YAML kind of a value, for "expected X, not Y" messages."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


@contextmanager
def reported_as(source: str) -> Iterator[None]:
    """Turn any unexpected failure into a ManifestError, so users never see a traceback."""
    try:
        yield
    except ManifestError:
        raise
    except RecursionError:
        raise ManifestError(source, "is nested too deeply to read") from None
    except Exception as exc:
        raise ManifestError(
            source, f"could not be read ({type(exc).__name__}: {exc}); please report this"
        ) from exc
