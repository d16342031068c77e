"""Live configuration in an instance: a JSON file the agent replaces in place when the app's
configuration changes (`config.json` in the instance's own folder, next to its identity; a
container sees it at /lifecycle/credentials/config.json, `YUN_CONFIG_FILE`), and the same
values as environment variables of instances started after the change.

The file holds `{"version": "s2.a5", "values": {...}}`; a reader that opens it again after
each change sees a whole file, old or new (a temporary file and a rename).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from yun.agent.identity import replace_file

CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class LiveConfig:
    version: str = ""
    values: Mapping[str, str] = field(default_factory=dict)

    def document(self) -> bytes:
        body = {"version": self.version, "values": dict(self.values)}
        return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()


def write_config(folder: Path, config: LiveConfig) -> None:
    """Replace the instance's config file (`folder` exists: the instance's own)."""
    replace_file(folder / CONFIG_FILE, config.document(), mode=0o644)
