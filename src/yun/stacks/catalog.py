"""The stacks Yun offers: Debian root filesystems, one per suite whose runtimes differ.

A stack is what an app's instances and stagings run on (Cloud Foundry's cflinuxfs4, Heroku's
heroku-24): the language runtimes and build tools from one Debian suite. The versions listed
here are those the suite carries, used to choose a stack before it is built; once built, the
versions read from its package database replace them (`yun stacks` shows which is which).

`host` is not built: it is the machine's own userland, which the process driver (no root)
runs apps on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HOST = "host"

# Runtimes and build tools, by Debian package name; the same names resolve in every suite.
PACKAGES = (
    "python3",
    "python3-venv",
    "python3-pip",
    "python3-dev",
    "nodejs",
    "npm",
    "default-jdk-headless",
    "golang-go",
    "gcc",
    "g++",
    "make",
    "libc6-dev",
    "libpq-dev",
    "libssl-dev",
    "libffi-dev",
    "nginx",
    "ca-certificates",
    "tzdata",
    "git",
    "curl",
    "procps",
)

# Runtime name -> the Debian package whose version is that runtime's.
RUNTIME_PACKAGES = {
    "python": "python3",
    "node": "nodejs",
    "java": "default-jdk-headless",
    "go": "golang-go",
}


@dataclass(frozen=True)
class StackDefinition:
    name: str
    suite: str
    description: str
    runtimes: Mapping[str, str]  # what the suite carries, before the stack is built
    check_valid_until: bool = True  # False where the mirror serves Release files past validity
    packages: tuple[str, ...] = field(default=PACKAGES)


STACKS: Mapping[str, StackDefinition] = {
    definition.name: definition
    for definition in (
        StackDefinition(
            name="bookworm",
            suite="bookworm",
            description="Debian 12",
            runtimes={"python": "3.11.2", "node": "18.20.4", "java": "17", "go": "1.19.8"},
        ),
        StackDefinition(
            name="trixie",
            suite="trixie",
            description="Debian 13",
            runtimes={"python": "3.13.5", "node": "20.19.2", "java": "21", "go": "1.24.4"},
        ),
        StackDefinition(
            name="testing",
            suite="testing",
            description="Debian testing",
            runtimes={"python": "3.14.8", "node": "24.21.0", "java": "25", "go": "1.27.3"},
            check_valid_until=False,
        ),
    )
}


FORMAT = 1  # bump when what a built stack holds changes in a way the definitions do not show


def definitions_key(*, authorities: Sequence[Path] = ()) -> str:
    """A short digest of every stack's definition and the certificate authorities built in: a
    cache of built stacks shared between test runs is kept per key, so a changed package list
    builds anew instead of reusing."""
    described = [FORMAT, *({**vars(d), "runtimes": None} for d in STACKS.values())]
    digest = hashlib.sha256(json.dumps(described, sort_keys=True, default=list).encode())
    for path in authorities:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
