"""Built stacks for the tests: one cache per machine, shared by every test and CI run.

Stacks take a minute or two each to build, so they are built once into
`/var/cache/yun-test/stacks-KEY` (KEY: a digest of the stack definitions, so a changed package
list builds anew) and reused; `YUN_TEST_STACKS_DIR` points elsewhere. Building needs root and
mmdebstrap; without them a test that needs a stack is skipped, saying why.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from yun.stacks import BuiltStack, StackStore
from yun.stacks.building import local_authorities
from yun.stacks.catalog import definitions_key


def shared_stacks_dir() -> Path:
    explicit = os.environ.get("YUN_TEST_STACKS_DIR")
    key = definitions_key(authorities=local_authorities())
    return Path(explicit) if explicit else Path(f"/var/cache/yun-test/stacks-{key}")


def built_stack(name: str) -> BuiltStack:
    """The stack `name` from the shared cache, built there first if it is not yet."""
    store = StackStore(shared_stacks_dir())
    found = store.built(name)
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("mmdebstrap") is None:
        pytest.skip(f"stack {name} is not built and building needs root and mmdebstrap")

    def progress(line: str) -> None:
        print(f"[stack {name}] {line}", file=sys.stderr, flush=True)

    return store.ensure(name, output=progress)
