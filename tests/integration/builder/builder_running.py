"""Helpers for the builder's integration tests: stage an example, run its droplet elsewhere."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.helpers import free_port

from yun.builder import (
    StagingError,
    StagingRequest,
    StagingResult,
    launcher_path,
    stage,
    unpack_droplet,
)

EXAMPLES = Path(__file__).parents[3] / "examples"


@dataclass
class Staged:
    result: StagingResult
    lines: list[str]
    droplet: Path  # moved out of the (deleted) work dir

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def stage_app(
    source: Path, tmp_path: Path, *, cache: Path | None = None, label: str = "", **options: Any
) -> Staged:
    """Stage `source`, then delete everything of the staging but the droplet (moved away)."""
    work = tmp_path / f"work{label}"
    work.mkdir()
    request = StagingRequest(
        source_dir=source,
        work_dir=work,
        cache_dir=cache or tmp_path / "cache",
        buildpacks=options.pop("buildpacks", []),
        env=options.pop("env", {}),
        **options,
    )
    lines: list[str] = []
    result = stage(request, output=lines.append)
    kept = tmp_path / f"droplet{label}.tar.gz"
    shutil.move(result.droplet, kept)
    shutil.rmtree(work)
    return Staged(result=result, lines=lines, droplet=kept)


def failing_stage(source: Path, tmp_path: Path, *, buildpack: str) -> list[str]:
    """Stage `source`, which must fail in `buildpack`'s supply; the lines it printed."""
    lines: list[str] = []
    request = StagingRequest(
        source_dir=source,
        work_dir=tmp_path / "work",
        cache_dir=tmp_path / "cache",
        buildpacks=[],
        env={},
    )
    failed = f"^buildpack {buildpack}: bin/supply exited with 1$"
    with pytest.raises(StagingError, match=failed):
        stage(request, output=lines.append)
    return lines


@dataclass
class Instance:
    proc: subprocess.Popen[bytes]
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        out = (self.root / "stdout.log").read_text(errors="replace")
        err = (self.root / "stderr.log").read_text(errors="replace")
        return f"--- stdout\n{out}\n--- stderr\n{err}"


@contextlib.contextmanager
def running(
    droplet: Path, root: Path, command: str, *, env: Mapping[str, str] | None = None
) -> Iterator[Instance]:
    """Unpack `droplet` under the new folder `root` and run `command` through the launcher."""
    unpack_droplet(droplet, root)
    port = free_port()
    full_env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(root / "app"),
        "DEPS_DIR": str(root / "deps"),
        "PORT": str(port),
        "VCAP_APP_HOST": "127.0.0.1",
        "CF_INSTANCE_INDEX": "3",
        **(env or {}),
    }
    with (root / "stdout.log").open("wb") as out, (root / "stderr.log").open("wb") as err:
        proc = subprocess.Popen(
            ["bash", str(launcher_path()), command],
            env=full_env,
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    try:
        yield Instance(proc=proc, root=root, port=port)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_for_http(instance: Instance, path: str = "/", timeout: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while True:
            if instance.proc.poll() is not None:
                raise AssertionError(
                    f"instance exited with {instance.proc.returncode}\n{instance.logs()}"
                )
            try:
                return client.get(instance.url + path)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"no answer on {instance.url}\n{instance.logs()}"
                    ) from None
                time.sleep(0.1)


def get(instance: Instance, path: str) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=5.0) as client:
        return client.get(instance.url + path)
