"""The CLI's saved target: API URL and token, in `$YUN_CONFIG_DIR/config.json` (mode 600)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from yun.settings import config_dir


@dataclass
class CliConfig:
    api: str = ""
    token: str = ""
    user: str = ""
    org: str = "main"
    space: str = "dev"


def load() -> CliConfig:
    path = config_dir() / "config.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    config = CliConfig(**{k: v for k, v in data.items() if k in CliConfig.__dataclass_fields__})
    if os.environ.get("YUN_API_URL"):
        config.api = os.environ["YUN_API_URL"]
    if not config.api:
        config.api = "http://127.0.0.1:" + os.environ.get("YUN_API_PORT", "7070")
    return config


def save(config: CliConfig) -> None:
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(config), out, indent=2)
