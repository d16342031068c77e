"""htpasswd files for a registry with basic auth.

Distribution accepts only bcrypt entries; the `bcrypt` wheel makes them (`$2b$`, which Go's
bcrypt, and so Distribution, reads).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import bcrypt

DEFAULT_COST = 10


def bcrypt_hash(password: str, *, cost: int = DEFAULT_COST) -> str:
    """A bcrypt hash of `password` ("$2b$10$…") with a fresh random salt."""
    secret = password.encode()
    if len(secret) > 72:  # bcrypt reads 72 bytes at most; the wheel refuses more
        raise ValueError("a registry password is at most 72 bytes")
    return bcrypt.hashpw(secret, bcrypt.gensalt(rounds=cost)).decode("ascii")


def write_htpasswd(path: Path, users: Mapping[str, str], *, cost: int = DEFAULT_COST) -> None:
    """Write `users` (name → password) as an htpasswd file readable only by its owner."""
    lines = []
    for name, password in users.items():
        if not name or ":" in name or "\n" in name:
            raise ValueError(f"invalid htpasswd user name {name!r}")
        lines.append(f"{name}:{bcrypt_hash(password, cost=cost)}\n")
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.writelines(lines)
    os.replace(tmp, path)
