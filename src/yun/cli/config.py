"""The CLI's saved target: API URL and tokens, in `$YUN_CONFIG_DIR/config.json` (mode 600)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from yun.settings import config_dir


@dataclass
class CliConfig:
    api: str = ""
    token: str = ""  # the access token (minutes)
    refresh_token: str = ""  # traded for a new pair when the access token runs out
    expires_at: float = 0.0  # when the access token runs out (this machine's clock)
    user: str = ""
    org: str = "main"
    space: str = "dev"
    space_guid: str = ""  # the targeted space ("": the server's default space)
    skip_ssl_validation: bool = False  # `yun login --skip-ssl-validation`: any certificate


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


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Serialise token refreshes between CLI processes sharing this config (a script that runs
    several `yun` commands at once must not spend the same refresh token twice)."""
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "config.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def save(config: CliConfig) -> None:
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(config), out, indent=2)
