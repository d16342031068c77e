"""Fixtures of the runc driver's integration tests; they need root and a runc binary."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.agent_runc.runc_world import Containers, make_droplet

from yun.agent import runsc


def _runc() -> str | None:
    return shutil.which("runc") or next(
        (p for p in ("/usr/sbin/runc", "/usr/bin/runc") if Path(p).exists()), None
    )


@pytest.fixture(scope="session")
def runc_binary() -> str:
    binary = _runc()
    if os.geteuid() != 0:
        pytest.skip("runc containers need root (cgroups, namespaces, bind mounts)")
    if binary is None:
        pytest.skip("no runc binary on PATH or in /usr/sbin")
    return binary


@pytest.fixture(scope="session")
def droplet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_droplet(tmp_path_factory.mktemp("runc-droplets") / "droplet.tgz")


@pytest.fixture
def containers(tmp_path: Path, runc_binary: str) -> Iterator[Containers]:
    made = Containers(root=tmp_path, runc=runc_binary)
    try:
        yield made
    finally:
        made.cleanup()


@pytest.fixture(scope="session")
def runsc_binary(runc_binary: str) -> str:
    """gVisor's runsc, built once per machine (`make test` builds it before the tests)."""
    found = runsc.find()
    if found is not None:
        return str(found)
    if shutil.which("go") is None:
        pytest.skip("gVisor's runsc is not built and there is no Go toolchain to build it")
    try:
        return str(runsc.build())
    except runsc.BuildError as exc:
        pytest.fail(f"could not build runsc: {exc}")


@pytest.fixture
def sandboxes(tmp_path: Path, runc_binary: str, runsc_binary: str) -> Iterator[Containers]:
    """Containers whose driver runs the gvisor runtime with runsc (and runc for the rest)."""
    made = Containers(root=tmp_path, runc=runc_binary, runsc=runsc_binary)
    try:
        yield made
    finally:
        made.cleanup()
