"""htpasswd files for a registry with basic auth.

Distribution accepts only bcrypt entries. Rather than depend on the `bcrypt` wheel or on
apache2-utils' `htpasswd`, this asks the system's libcrypt (libxcrypt on Debian, which every
Debian system has because PAM and shadow use it) for a `$2y$` hash.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

BCRYPT_PREFIX = b"$2y$"
DEFAULT_COST = 10
_lock = threading.Lock()  # crypt() and crypt_gensalt() return static buffers


@cache
def _libcrypt() -> Any:
    name = ctypes.util.find_library("crypt") or "libcrypt.so.1"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
        gensalt = lib.crypt_gensalt
    except (OSError, AttributeError) as exc:
        raise RuntimeError(f"libcrypt with bcrypt support is not available: {exc}") from exc
    gensalt.restype = ctypes.c_char_p
    gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return lib


def bcrypt_hash(password: str, *, cost: int = DEFAULT_COST) -> str:
    """A bcrypt hash of `password` ("$2y$10$…") with a fresh random salt."""
    lib = _libcrypt()
    with _lock:
        setting = lib.crypt_gensalt(BCRYPT_PREFIX, cost, None, 0)
        hashed = lib.crypt(password.encode(), setting) if setting else None
    if not hashed or not hashed.startswith(b"$2"):
        raise RuntimeError("libcrypt could not produce a bcrypt hash")
    return str(hashed.decode("ascii"))


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
