"""One line of an app's log, and reading it back from either of the store's formats."""

from __future__ import annotations

import json
from dataclasses import dataclass

from yun.logstore import rtr


@dataclass(frozen=True)
class LogLine:
    ts: float
    source: str
    message: str

    def to_dict(self) -> dict[str, object]:
        return {"ts": self.ts, "source": self.source, "message": self.message}

    def encode(self) -> bytes:
        """The line as the store keeps it: one JSON object and a newline."""
        return (json.dumps(self.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")


def decode(raw: bytes, app_guid: str) -> LogLine | None:
    """A stored line (without its newline), or None if it is not one."""
    if rtr.is_record(raw):
        record = rtr.decode(raw, app_guid)
        return LogLine(*record) if record else None
    try:
        item = json.loads(raw)
        return LogLine(float(item["ts"]), str(item["source"]), str(item["message"]))
    except (ValueError, KeyError, TypeError):
        return None
