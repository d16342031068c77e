"""Roots and port ranges for the built-in backends' servers.

Roots are made under /tmp rather than pytest's tmp_path: when the tests run as root the servers
run as `postgres` or `redis`, which must be able to pass every directory above their own, and
pytest keeps its own base directory closed (0700, re-closed by every pytest run).
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from yun.brokers.builtin.ports import PortAllocator


@pytest.fixture(scope="module")
def service_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="yun-services-"))
    try:
        yield root / "backend"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def ports() -> PortAllocator:
    """A block below the ephemeral range, so client sockets do not land in it; the allocator
    skips ports that something listens on."""
    first = random.randrange(20000, 30000, 100)
    return PortAllocator((first, first + 99))
