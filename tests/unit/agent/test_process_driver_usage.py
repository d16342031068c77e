"""The process driver measures a real instance: resident memory of its process group, and the
disk its writable directories take."""

from __future__ import annotations

import io
import os
import shlex
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from yun.agent import Handle, HealthCheckSpec, InstanceSpec, ProcessDriver, Usage
from yun.agent.env import instance_environment
from yun.builder.launcher import launcher_path

MIB = 1024 * 1024

# Writes 3 MiB into its own directory, then holds ~40 MiB of touched memory in a child process
# (the group's memory counts, not only the leader's).
APP = """
import os, subprocess, sys, time
with open("written.bin", "wb") as f:
    f.write(os.urandom(3 * 1024 * 1024))
    f.flush()
    os.fsync(f.fileno())
child = "held = b'x' * (40 * 1024 * 1024); open('held', 'w').close(); import time; time.sleep(60)"
subprocess.Popen([sys.executable, "-c", child])
time.sleep(60)
"""


def droplet(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        data = APP.encode()
        info = tarfile.TarInfo("app/app.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return path


def wait_for(predicate: object, timeout: float = 15.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[tuple[ProcessDriver, Handle]]:
    driver = ProcessDriver(launcher_path())
    spec = InstanceSpec(
        slot="proc-1:0",
        app_guid="app-1",
        app_name="demo",
        process_guid="proc-1",
        process_type="worker",
        index=0,
        droplet=droplet(tmp_path / "droplet.tgz"),
        command=f"exec {shlex.quote(sys.executable)} app.py",
        env={},
        memory_mb=256,
        disk_mb=1024,
        health=HealthCheckSpec(type="process"),
    )
    env = instance_environment(spec, instance_guid="guid-1")
    handle = driver.start(spec, run_dir=tmp_path / "guid-1", env=env)
    yield driver, handle
    driver.stop(handle, grace=0)
    driver.remove(handle)


def test_usage_counts_the_group_memory_and_the_files_the_app_wrote(
    started: tuple[ProcessDriver, Handle],
) -> None:
    driver, handle = started
    wait_for(lambda: (handle.run_dir / "app" / "held").exists())
    usage = driver.usage(handle)
    assert usage is not None
    assert usage.memory_bytes is not None and usage.memory_bytes > 40 * MIB
    assert usage.memory_bytes < 256 * MIB
    assert usage.disk_bytes is not None and usage.disk_bytes >= 3 * MIB


def test_a_stopped_instance_uses_no_memory(started: tuple[ProcessDriver, Handle]) -> None:
    driver, handle = started
    wait_for(lambda: (handle.run_dir / "app" / "held").exists())
    driver.stop(handle, grace=0)
    usage = driver.usage(handle)
    assert usage is not None and usage.memory_bytes == 0
    driver.remove(handle)
    assert driver.usage(handle) == Usage(memory_bytes=0, disk_bytes=0)


def test_a_pid_now_leading_another_group_is_not_measured(
    started: tuple[ProcessDriver, Handle],
) -> None:
    driver, handle = started
    other = os.posix_spawn("/bin/sleep", ["sleep", "30"], dict(os.environ), setsid=True)
    try:
        impostor = Handle(
            run_dir=handle.run_dir,
            pid=other,
            address=handle.address,
            port=handle.port,
            logs=handle.logs,
            data={**handle.data, "starttime": 1, "pgid": other},  # our pid, reused by a leader
        )
        assert driver.usage(impostor) is None
    finally:
        os.kill(other, 9)
        os.waitpid(other, 0)
