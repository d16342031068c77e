"""Shared test helpers: free loopback ports, a private PostgreSQL server."""

from __future__ import annotations

import glob
import io
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Return once `condition()` holds; fail the test if it does not within `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the timeout"
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


@contextmanager
def postgres_server() -> Iterator[str]:
    """A private PostgreSQL cluster on a free loopback port; yields its URL; stops it by pid."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL server binaries are not installed (make test installs them)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root needs runuser to start PostgreSQL as postgres")
    base = Path(tempfile.mkdtemp(prefix="yun-pg-"))
    os.chmod(base, 0o777)
    data = base / "data"
    port = free_port()
    subprocess.run(
        _as_postgres([initdb, "-D", str(data), "-U", "yun", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    options = f"-k {base} -h 127.0.0.1 -p {port}"
    subprocess.run(
        _as_postgres(
            [pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(Path(initdb).parent / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "yun",
                    "yun",
                ]
            ),
            check=True,
            capture_output=True,
        )
        yield f"postgresql://yun@127.0.0.1:{port}/yun"
    finally:
        pid_file = data / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            subprocess.run(
                _as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
                capture_output=True,
                check=False,
            )
            try:
                os.kill(pid, 0)
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        shutil.rmtree(base, ignore_errors=True)


def write_droplet(
    path: Path, files: dict[str, str], folders: tuple[str, ...] = ("app", "deps")
) -> Path:
    """A droplet tarball (the builder's layout) holding `files`, for driver and registry tests."""
    with tarfile.open(path, "w:gz") as tar:
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return path
