"""Fixtures of the registry's integration tests: real Distribution registries on free loopback
ports, a busybox image built once, and runc containers that are always killed and deleted."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import free_port

from yun.registry import RegistryServer, build_busybox_image

TOOLS = ("docker-registry", "skopeo", "umoci")


def require(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (make deps installs them)")


@pytest.fixture(autouse=True)
def _registry_tools() -> None:
    require(*TOOLS)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    """A started registry with no auth; stopped after the test."""
    server = RegistryServer(root=tmp_path / "registry", port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def busybox_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI layout holding the busybox httpd image as tag "v1"."""
    require(*TOOLS)
    layout = tmp_path_factory.mktemp("busybox") / "layout"
    build_busybox_image(layout, "v1")
    return layout


# Loopback only: never through a proxy the environment may name.
urlopen = urllib.request.build_opener(urllib.request.ProxyHandler({})).open


def http_get(url: str, *, timeout: float = 10.0) -> bytes:
    """GET `url`, retrying while the server is still coming up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urlopen(url, timeout=2) as response:
                body: bytes = response.read()
                return body
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


RunContainer = Callable[..., contextlib.AbstractContextManager[str]]


@pytest.fixture
def run_container(tmp_path: Path) -> RunContainer:
    """run_container(bundle, args=[...], env={...}, binds=[...]) → context yielding the id.

    Runs the bundle with `runc run -d` on the host network (so the test reaches it on
    loopback), then kills and deletes the container by the id chosen here.
    """
    require("runc")
    if os.geteuid() != 0:
        pytest.skip("running containers with runc needs root")
    state = tmp_path / "runc-state"

    @contextlib.contextmanager
    def run(
        bundle: Path,
        *,
        args: Sequence[str],
        env: dict[str, str] | None = None,
        binds: Sequence[str] = (),
    ) -> Iterator[str]:
        spec_path = bundle / "config.json"
        spec: dict[str, Any] = json.loads(spec_path.read_text())
        spec["process"]["terminal"] = False
        spec["process"]["args"] = list(args)
        for name, value in (env or {}).items():
            spec["process"]["env"] = [
                entry for entry in spec["process"]["env"] if not entry.startswith(f"{name}=")
            ] + [f"{name}={value}"]
        spec["linux"]["namespaces"] = [
            ns for ns in spec["linux"]["namespaces"] if ns["type"] != "network"
        ]
        for path in binds:
            spec["mounts"].append(
                {"destination": path, "type": "bind", "source": path, "options": ["rbind", "ro"]}
            )
        spec_path.write_text(json.dumps(spec))
        container = f"yun-registry-test-{uuid.uuid4().hex[:8]}"
        runc = ["runc", "--root", str(state)]
        log = bundle.parent / f"{container}.log"
        with open(log, "wb") as output:
            started = subprocess.run(
                [*runc, "run", "-d", "--bundle", str(bundle), container],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                timeout=60,
                check=False,
            )
        try:
            assert started.returncode == 0, log.read_text()
            yield container
        finally:
            subprocess.run([*runc, "kill", container, "KILL"], capture_output=True, check=False)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                gone = subprocess.run(
                    [*runc, "delete", "--force", container], capture_output=True, check=False
                )
                listed = subprocess.run(
                    [*runc, "list", "-q"], capture_output=True, text=True, check=False
                )
                if gone.returncode == 0 and container not in listed.stdout.split():
                    break
                time.sleep(0.05)

    return run


@pytest.fixture
def free_loopback_port() -> int:
    return free_port()
