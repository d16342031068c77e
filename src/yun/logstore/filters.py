"""Which of an app's log lines a reader wants: `yun logs --source --instance --since --grep`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from yun.logstore.lines import LogLine

# What `--source` takes: the first part of a line's source (`APP/PROC/WEB/0` is an APP line).
SOURCES = ("STG", "APP", "RTR", "API", "CELL", "REL", "TASK")


class FilterError(ValueError):
    """A filter that cannot be used; `field` names the argument."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def parse_sources(text: str) -> frozenset[str]:
    """`APP,RTR` (any case) as the source kinds; FilterError naming `source` if one is unknown."""
    kinds = frozenset(part.strip().upper() for part in text.split(",") if part.strip())
    unknown = sorted(kinds - set(SOURCES))
    if unknown or not kinds:
        raise FilterError(
            "source", f"{', '.join(unknown) or repr(text)} is not one of {', '.join(SOURCES)}"
        )
    return kinds


def parse_grep(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise FilterError("grep", f"{text!r} is not a regular expression: {exc}") from None


@dataclass(frozen=True)
class LogFilter:
    """Lines of these source kinds, of instance `instance`, since `since`, matching `grep`;
    an unset field lets every line through.

    An instance's lines are its app output and cell lines (`APP/PROC/WEB/2`, `CELL/2`) and the
    router's lines of requests it served (`instance:"…-2"`, the router's name for it).
    """

    sources: frozenset[str] | None = None
    instance: int | None = None
    since: float | None = None
    grep: re.Pattern[str] | None = None

    @property
    def everything(self) -> bool:
        return (
            self.sources is None and self.instance is None and self.since is None and not self.grep
        )

    def __call__(self, line: LogLine) -> bool:
        if self.since is not None and line.ts < self.since:
            return False
        kind = line.source.split("/", 1)[0]
        if self.sources is not None and kind not in self.sources:
            return False
        if self.instance is not None and not self._of_instance(kind, line):
            return False
        return self.grep is None or self.grep.search(line.message) is not None

    def _of_instance(self, kind: str, line: LogLine) -> bool:
        if kind == "RTR":
            served = _SERVED_BY.search(line.message)
            return served is not None and served.group(1) == str(self.instance)
        if kind in ("APP", "CELL"):
            return line.source.rsplit("/", 1)[-1] == str(self.instance)
        return False


_SERVED_BY = re.compile(r' instance:"[^"]*-(\d+)"')
