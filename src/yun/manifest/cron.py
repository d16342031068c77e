"""Cron jobs in manifests: HPE Stackato's `cron:` key, so Stackato manifests push unchanged.

Stackato took crontab lines, five time fields then the command, run in the app's environment:

    cron:
      - "*/5 * * * * python cleanup.py"
      - "@daily python report.py"

Yun reads those (at the application's level or in its `stackato:` block) and also a mapping
per job for what a line cannot say: `{schedule: "0 3 * * *", command: "...", name: nightly,
overlap: false, memory: 512M}`. Times are UTC; croniter reads the expressions.
"""

from __future__ import annotations

import datetime

from croniter import croniter

from yun.manifest.fields import (
    Scope,
    as_bool,
    as_list,
    as_mapping,
    as_size,
    as_text,
    optional,
    warn_unknown,
)
from yun.manifest.models import CronSpec

MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
FIELDS = 5
JOB_KEYS = ("schedule", "command", "name", "overlap", "memory")
EXAMPLE = '"*/5 * * * * python cleanup.py"'


def check_expression(expression: str) -> str:
    """The expression, tidied; ValueError saying what is wrong with it."""
    words = expression.split()
    if len(words) == 1 and words[0].lower() in MACROS:
        return words[0].lower()
    if len(words) != FIELDS or not croniter.is_valid(" ".join(words)):
        raise ValueError(
            f"{expression!r} is not a cron schedule: five fields (minute hour day month"
            " weekday) like '*/5 * * * *', or one of " + ", ".join(MACROS)
        )
    return " ".join(words)


def next_time(expression: str, after: float) -> float:
    """The first time (epoch seconds, UTC) strictly after `after` that `expression` names."""
    start = datetime.datetime.fromtimestamp(after, datetime.UTC)
    return float(croniter(expression, start).get_next(float))


def split_line(line: str) -> tuple[str, str]:
    """A crontab line as (expression, command); ValueError when it has no command."""
    words = line.split()
    count = 1 if words and words[0].startswith("@") else FIELDS
    if len(words) <= count:
        raise ValueError(f"{line!r} is not a cron line like {EXAMPLE}: it needs a command")
    rest = line.strip()
    for word in words[:count]:  # the command keeps its own spacing and quotes
        rest = rest[len(word) :].lstrip()
    return " ".join(words[:count]), rest


def read_cron(value: object, scope: Scope) -> list[CronSpec]:
    jobs = []
    for index, item in enumerate(as_list(value, scope, example=f"- {EXAMPLE}")):
        at = scope.item(index)
        if isinstance(item, dict):
            jobs.append(_read_job(item, at))
            continue
        line = as_text(item, at)
        try:
            expression, command = split_line(line)
            expression = check_expression(expression)
        except ValueError as exc:
            raise at.error(str(exc)) from None
        jobs.append(CronSpec(expression=expression, command=command))
    names = [job.name for job in jobs if job.name]
    if len(set(names)) != len(names):
        raise scope.error("two jobs have the same name; give each its own")
    return jobs


def _read_job(item: object, scope: Scope) -> CronSpec:
    data = as_mapping(item, scope, example='schedule: "0 3 * * *", command: python report.py')
    warn_unknown(data, JOB_KEYS, scope)
    if data.get("schedule") is None:
        raise scope.key("schedule").error("is required (like '0 3 * * *')")
    if data.get("command") is None:
        raise scope.key("command").error("is required")
    try:
        expression = check_expression(as_text(data["schedule"], scope.key("schedule")))
    except ValueError as exc:
        raise scope.key("schedule").error(str(exc)) from None
    return CronSpec(
        expression=expression,
        command=as_text(data["command"], scope.key("command")).strip(),
        name=(optional(data, "name", scope, as_text) or "").strip(),
        overlap=bool(optional(data, "overlap", scope, as_bool)),
        memory_mb=optional(data, "memory", scope, as_size),
    )
