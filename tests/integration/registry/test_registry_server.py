"""A real Distribution registry: start, answer, adoption by a new object or process, stop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers import free_port
from tests.integration.registry.conftest import port_is_free, urlopen

from yun.registry import RegistryError, RegistryServer, pull, push

pytestmark = pytest.mark.integration


def test_started_registry_answers_the_distribution_api(registry: RegistryServer) -> None:
    with urlopen(f"{registry.url}/v2/", timeout=5) as response:
        assert response.status == 200
        assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    with urlopen(f"{registry.url}/v2/_catalog", timeout=5) as response:
        assert json.load(response) == {"repositories": []}
    assert registry.running()
    assert (registry.root / "registry.pid").read_text().strip() == str(registry.pid())


def test_start_twice_keeps_the_same_process(registry: RegistryServer) -> None:
    pid = registry.pid()
    registry.start()
    assert registry.pid() == pid


def test_a_second_object_adopts_and_stops_the_running_registry(
    registry: RegistryServer,
) -> None:
    pid = registry.pid()
    adopter = RegistryServer(root=registry.root, port=registry.port)
    assert adopter.running() and adopter.pid() == pid
    adopter.start()  # same config: adopts, does not restart
    assert adopter.pid() == pid
    adopter.stop()
    assert not registry.running() and not adopter.running()
    assert not Path(f"/proc/{pid}").exists()
    assert port_is_free(registry.port)
    assert not registry.answers()


def test_a_new_python_process_adopts_and_stops_it(registry: RegistryServer) -> None:
    pid = registry.pid()
    script = (
        "import sys; from pathlib import Path; from yun.registry import RegistryServer\n"
        "s = RegistryServer(root=Path(sys.argv[1]), port=int(sys.argv[2]))\n"
        "print(s.pid()); s.stop(); print(s.running())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(registry.root), str(registry.port)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == [str(pid), "False"]
    assert not registry.running()
    assert not Path(f"/proc/{pid}").exists()  # and no zombie left behind in this process
    assert port_is_free(registry.port)


def test_images_survive_a_restart(
    registry: RegistryServer, busybox_layout: Path, tmp_path: Path
) -> None:
    pushed = push(busybox_layout, "v1", f"{registry.address}/keep:v1")
    registry.stop()
    registry.start()
    assert pull(f"{registry.address}/keep:v1", tmp_path / "layout").digest == pushed.split("@")[1]


def test_a_changed_config_restarts_the_registry(registry: RegistryServer, tmp_path: Path) -> None:
    old = registry.pid()
    moved = RegistryServer(root=registry.root, port=free_port())
    moved.start()
    try:
        assert moved.pid() != old and moved.answers()
        assert not registry.answers()  # the old port is no longer served
    finally:
        moved.stop()


def test_a_taken_port_is_a_clear_error(registry: RegistryServer, tmp_path: Path) -> None:
    other = RegistryServer(root=tmp_path / "other", port=registry.port)
    with pytest.raises(RegistryError, match=rf"127.0.0.1:{registry.port}: in use"):
        other.start()
    assert not other.running()
    assert registry.answers()
