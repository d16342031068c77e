"""Seconds from `yun push` to the first 200 through the router, for examples/hello-python.

Runs a private `yun server` on free loopback ports and measures three pushes:
  cold  - a fresh platform: no blobs, no buildpack cache;
  warm  - the same app pushed again after a one-line code change (cache and blobs reused);
and, as a same-run baseline, doing it by hand: a fresh venv, `pip install -r requirements.txt`,
start `app.py`, first 200 (what the platform replaces).

Usage: .venv/bin/python bench/push.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
YUN = str(Path(sys.executable).parent / "yun")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_200(url: str, host: str | None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    headers = {"Host": host} if host else {}
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"no 200 from {url} within {timeout}s")


def timed_push(env: dict[str, str], app_dir: Path, router_port: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        [YUN, "push", "-p", str(app_dir)],
        env=env,
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    wait_200(f"http://127.0.0.1:{router_port}/", "hello-python.apps.localhost")
    return time.perf_counter() - start


def by_hand(app_dir: Path, work: Path) -> float:
    venv = work / "venv"
    port = free_port()
    start = time.perf_counter()
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "-r", str(app_dir / "requirements.txt")],
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        [str(venv / "bin" / "python"), "app.py"],
        cwd=app_dir,
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_200(f"http://127.0.0.1:{port}/", None)
        return time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(10)


def one_run(work: Path) -> tuple[float, float, float]:
    app_dir = work / "hello-python"
    shutil.copytree(ROOT / "examples" / "hello-python", app_dir)
    api_port, router_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUN_")}
    env.update(
        {
            "YUN_HOME": str(work / "home"),
            "YUN_CONFIG_DIR": str(work / "config"),
            "YUN_API_PORT": str(api_port),
            "YUN_ROUTER_PORT": str(router_port),
            "YUN_ADMIN_PASSWORD": "bench",
            "YUN_DRIVER": os.environ.get("YUN_DRIVER", "process"),
            "YUN_REGISTRY_PORT": "0",
        }
    )
    (work / "home").mkdir()
    server = subprocess.Popen(
        [YUN, "server"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_200(f"http://127.0.0.1:{api_port}/v3/info", None, timeout=60)
        subprocess.run(
            [YUN, "login", "-a", f"http://127.0.0.1:{api_port}", "-p", "bench"],
            env=env,
            check=True,
            capture_output=True,
        )
        cold = timed_push(env, app_dir, router_port)
        with (app_dir / "app.py").open("a") as out:
            out.write("\n# a one-line change\n")
        warm = timed_push(env, app_dir, router_port)
    finally:
        server.terminate()
        server.wait(30)
        subprocess.run([YUN, "server", "stop", "--all"], env=env, capture_output=True, check=False)
    hand = by_hand(app_dir, work)
    return cold, warm, hand


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="yun-bench-push-") as work:
            results.append(one_run(Path(work)))
    cold = statistics.median(r[0] for r in results)
    warm = statistics.median(r[1] for r in results)
    hand = statistics.median(r[2] for r in results)
    print(f"runs: {args.runs} (medians)")
    print(f"cold push -> first 200:      {cold:6.2f} s")
    print(f"warm push -> first 200:      {warm:6.2f} s   (target <= 5 s)")
    print(f"by hand (venv+pip+start):    {hand:6.2f} s")
    print(f"warm push / by hand:         {warm / hand:6.2f}x")


if __name__ == "__main__":
    main()
