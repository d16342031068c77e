"""Fixtures of the agent's integration tests: a launcher, a tiny droplet, and agents that always
leave no process behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers import write_droplet
from tests.integration.agent.agent_world import LAUNCHER, SERVER, WORKER, Agents, group_alive


@pytest.fixture(scope="session")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("launcher") / "launcher.sh"
    path.write_text(LAUNCHER)
    return path


@pytest.fixture(scope="session")
def droplet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("droplets") / "droplet.tgz"
    files = {
        "app/server.py": SERVER,
        "app/worker.py": WORKER,
        "staging_info.json": json.dumps({"start_command": "python3 server.py"}),
    }
    return write_droplet(path, files)


@pytest.fixture
def agents(tmp_path: Path, launcher: Path) -> Iterator[Agents]:
    made = Agents(root=tmp_path / "instances", launcher=launcher)
    yield made
    for agent, _ in made.made:
        agent.stop(stop_instances=True)  # idempotent for agents a test already stopped
    for pgid in made.pgids():  # the safety net: nothing a test started may outlive it
        if group_alive(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
