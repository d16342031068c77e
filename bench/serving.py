"""What the benchmarks share: free loopback ports and a `yun server` of their own.

Imported as `serving` (the scripts run as `python bench/NAME.py`, which puts bench/ first on
the path).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

YUN = str(Path(sys.executable).parent / "yun")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(work: Path, **settings: str) -> dict[str, str]:
    """The environment of a server with its home under `work`, free API and router ports, no
    HTTPS and no registry (what the benchmarks do not measure), and `settings` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUN_")}
    env.update(
        {
            "YUN_HOME": str(work / "home"),
            "YUN_CONFIG_DIR": str(work / "config"),
            "YUN_API_PORT": str(free_port()),
            "YUN_ROUTER_PORT": str(free_port()),
            "YUN_ROUTER_HTTPS_PORT": "0",
            "YUN_REGISTRY_PORT": "0",
            "YUN_CONFIG_PORT": str(free_port()),
            "YUN_DRIVER": "process",
            "YUN_ADMIN_PASSWORD": "bench-password",
            **settings,
        }
    )
    return env


@contextmanager
def running_server(env: dict[str, str], timeout: float = 60) -> Iterator[str]:
    """`yun server` with `env`, answering; yields its API URL. Stopped afterwards, with its
    data plane (`yun server stop --all`)."""
    Path(env["YUN_HOME"]).mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        [YUN, "server"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{env['YUN_API_PORT']}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(f"{url}/v3/info", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"yun server did not answer at {url}") from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(30)
        subprocess.run([YUN, "server", "stop", "--all"], env=env, capture_output=True, check=False)


def yun_cli(env: dict[str, str], *args: str) -> str:
    """Run `yun ARGS` against the server of `env`; its output (raises on a nonzero exit)."""
    return subprocess.run(
        [YUN, *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    ).stdout


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 of durations in seconds, in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p99 * 1000
