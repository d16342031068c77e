"""Instance start time (create → healthy) per driver, and the time to scale 1 → 20 instances.

For each driver (`process`, and `runc` when root and runc are available) a private `yun server`
runs on free loopback ports; examples/hello-python is pushed once, then:
  start  - scale 1 → 2 and time until instance 1 is RUNNING (health check passed), 5 times;
  scale  - scale 1 → 20 and time until all 20 are RUNNING.
The agent probes every `check_interval` (0.5 s), which both drivers pay equally: compare the
drivers by their difference, measured in the same run. The host's other load moves every figure,
so compare changes by runs interleaved with a baseline, not with figures of another day.

Usage: .venv/bin/python bench/instances.py [--repeat 5] [--target 20] [--drivers process,runc]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from serving import free_port, yun_cli

ROOT = Path(__file__).resolve().parents[1]
YUN = str(Path(sys.executable).parent / "yun")
sys.path.insert(0, str(ROOT / "src"))

from yun.client import ApiClient  # noqa: E402
from yun.server.drivers import runc_missing  # noqa: E402


class Server:
    def __init__(self, work: Path, driver: str) -> None:
        self.api_port = free_port()
        n = random.randrange(1, 250)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("YUN_")}
        self.env.update(
            {
                "YUN_HOME": str(work / "home"),
                "YUN_CONFIG_DIR": str(work / "config"),
                "YUN_API_PORT": str(self.api_port),
                "YUN_ROUTER_PORT": str(free_port()),
                "YUN_ROUTER_HTTPS_PORT": "0",  # HTTP is what is measured
                "YUN_CONFIG_PORT": str(free_port()),
                "YUN_ADMIN_PASSWORD": "bench",
                "YUN_DRIVER": driver,
                "YUN_SUBNET": f"10.253.{n}.0/24",
                "YUN_BRIDGE": f"yunbench{n}",
            }
        )
        (work / "home").mkdir()
        self.proc = subprocess.Popen(
            [YUN, "server"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.api_port}/v3/info", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        self.cli("login", "-a", f"http://127.0.0.1:{self.api_port}", "-p", "bench")
        url = f"http://127.0.0.1:{self.api_port}"
        self.api = ApiClient(url, ApiClient(url).login("admin", "bench")["access_token"])
        self.guid = ""

    def cli(self, *args: str) -> str:
        return yun_cli(self.env, *args)

    def scale(self, instances: int) -> None:
        self.api.scale(self.guid, "web", instances=instances)

    def running(self) -> int:
        """RUNNING web instances, from the app listing: unlike the app's own page it does not
        measure every instance's memory and disk, which would load the server we time."""
        (app,) = [a for a in self.api.apps("hello-python") if a["guid"] == self.guid]
        web = next(p for p in app["processes"] if p["type"] == "web")
        return int(web["running"])

    def wait_running(self, count: int, timeout: float = 120) -> float:
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            if self.running() >= count:
                return time.perf_counter() - start
            time.sleep(0.02)
        raise SystemExit(f"{count} instances not running within {timeout}s")

    def stop(self) -> None:
        self.api.close()
        self.proc.terminate()
        self.proc.wait(30)
        subprocess.run(
            [YUN, "server", "stop", "--all"], env=self.env, capture_output=True, check=False
        )


def measure(driver: str, repeat: int, target: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix=f"yun-bench-{driver}-") as work_dir:
        work = Path(work_dir)
        app = work / "hello-python"
        shutil.copytree(ROOT / "examples" / "hello-python", app)
        server = Server(work, driver)
        try:
            server.cli("push", "-p", str(app))
            server.guid = server.api.find_app("hello-python")["guid"]
            starts = []
            for _ in range(repeat):
                began = time.perf_counter()
                server.scale(2)
                server.wait_running(2)
                starts.append(time.perf_counter() - began)
                server.scale(1)
                while server.running() > 1:
                    time.sleep(0.05)
            began = time.perf_counter()
            server.scale(target)
            server.wait_running(target)
            scale = time.perf_counter() - began
        finally:
            server.stop()
    return statistics.median(starts), scale


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--target", type=int, default=20)
    parser.add_argument("--drivers", default="process,runc", help="comma-separated")
    args = parser.parse_args()
    drivers = [d for d in args.drivers.split(",") if d in ("process", "runc")]
    reason = runc_missing()
    if reason is not None and "runc" in drivers:
        drivers.remove("runc")
        print(f"runc driver skipped: {reason}")
    results = {d: measure(d, args.repeat, args.target) for d in drivers}
    for driver, (start, scale) in results.items():
        print(f"{driver:8} start (create -> healthy, median of {args.repeat}): {start:6.3f} s")
        print(f"{driver:8} scale 1 -> {args.target} all running:            {scale:6.3f} s")
    if "runc" in results and "process" in results:
        extra = results["runc"][0] - results["process"][0]
        print(f"runc start overhead over process: {extra * 1000:+.0f} ms (target <= 100 ms)")


if __name__ == "__main__":
    main()
