"""What gVisor costs: the same app started and served under runc and under runsc (the gvisor
runtime), in one run.

The runc driver starts a small Python web app (a threading `http.server` answering a few
bytes, HTTP/1.1 keep-alive) from the same droplet on the same stack, each instance in its own
network namespace on a veth pair of its own, as the platform runs instances:

  start       seconds from the driver's `start` to the app's first 200 (namespace, bundle,
              runtime, interpreter start, listening); rounds alternate the runtimes
  throughput  requests per second wrk gets from one instance (`--connections` over
              `--threads`, `--duration` seconds after a one-second warm-up); rounds alternate
  memory      what the instance's cgroup holds once it has served (the sandbox, gVisor's
              kernel included, against the app alone)

Ratios are gvisor / runc of the medians. Needs root, runc, wrk and runsc (`make runsc`).

    .venv/bin/python bench/runtimes.py [--rounds 5] [--duration 5] [--stack trixie]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.helpers import write_droplet  # noqa: E402
from tests.integration.agent.agent_world import spec  # noqa: E402
from tests.integration.agent_runc.runc_world import LAUNCHER, VethNetwork  # noqa: E402
from tests.stacks import built_stack  # noqa: E402

from yun.agent import Handle, runsc  # noqa: E402
from yun.agent.drivers.runc import RuncDriver  # noqa: E402
from yun.agent.env import instance_environment  # noqa: E402

RUNTIMES = ("runc", "gvisor")
APP = """\
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go as they are written

    def do_GET(self):
        body = b"hello from a sandbox\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Hello).serve_forever()
"""


class Bench:
    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        self.work = work
        self.args = args
        self.droplet = write_droplet(
            work / "droplet.tgz",
            {"app/app.py": APP, "staging_info.json": '{"start_command": "python3 app.py"}'},
        )
        found = runsc.find()
        if found is None:
            raise SystemExit(f"bench: {runsc.missing()}")
        self.runsc = str(found)
        self.stack: Path | None = None  # the host's userland
        if args.stack != "host":  # the stack's `current` root, as the platform hands it over
            self.stack = built_stack(args.stack).rootfs.parent.parent / "current" / "rootfs"
        self.count = 0

    @contextlib.contextmanager
    def instance(self, runtime: str) -> Iterator[tuple[RuncDriver, Handle, float]]:
        """A started instance of `runtime` and the seconds until its first 200."""
        self.count += 1
        driver = RuncDriver(
            LAUNCHER, state_root=self.work / "runc", network=VethNetwork(), runsc=self.runsc
        )
        wanted = spec(
            self.droplet,
            index=self.count,
            command="python3 app.py",
            memory_mb=512,
            runtime=runtime,
            stack_root=self.stack,
        )
        guid = f"bench-{self.count}"
        env = instance_environment(wanted, instance_guid=guid)
        began = time.monotonic()
        handle = driver.start(wanted, run_dir=self.work / "instances" / guid, env=env)
        try:
            url = f"http://{handle.address}:{handle.port}/"
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url, timeout=1).status_code == 200:
                        break
                if time.monotonic() - began > 60:
                    logs = "".join(path.read_text()[-2000:] for path in handle.logs.values())
                    raise SystemExit(f"bench: the {runtime} instance did not answer:\n{logs}")
                time.sleep(0.01)
            yield driver, handle, time.monotonic() - began
        finally:
            driver.stop(handle, grace=0)
            driver.remove(handle)

    def wrk(self, address: str, port: int) -> float:
        args = self.args
        argv = ["wrk", f"-t{args.threads}", f"-c{args.connections}"]
        url = f"http://{address}:{port}/"
        subprocess.run([*argv, "-d1s", url], capture_output=True, check=True)  # warm-up
        out = subprocess.run(
            [*argv, f"-d{args.duration:g}s", url], capture_output=True, text=True, check=True
        ).stdout
        found = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if found is None or "Non-2xx" in out or "Socket errors" in out:
            raise SystemExit(f"bench: wrk did not get clean answers:\n{out}")
        return float(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--stack", default="trixie", help="a stack's suite, or host")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yun-bench-runtimes-") as tmp:
        bench = Bench(Path(tmp), args)
        starts: dict[str, list[float]] = {name: [] for name in RUNTIMES}
        rates: dict[str, list[float]] = {name: [] for name in RUNTIMES}
        memory: dict[str, list[float]] = {name: [] for name in RUNTIMES}
        for number in range(args.rounds):
            for runtime in RUNTIMES if number % 2 == 0 else RUNTIMES[::-1]:
                with bench.instance(runtime) as (driver, handle, took):
                    starts[runtime].append(took)
                    rates[runtime].append(bench.wrk(str(handle.address), int(handle.port or 0)))
                    used = driver.usage(handle, disk=False)
                    if used is not None and used.memory_bytes is not None:
                        memory[runtime].append(used.memory_bytes / 2**20)
                print(
                    f"round {number + 1} {runtime:6}: start {took:.2f} s,"
                    f" {rates[runtime][-1]:.0f} req/s, {memory[runtime][-1]:.1f} MiB",
                    flush=True,
                )
        print()
        print(
            f"stack {args.stack}, {args.rounds} rounds, wrk -t{args.threads}"
            f" -c{args.connections} -d{args.duration:g}s"
        )
        for label, values, unit in (
            ("start to first 200", starts, "s"),
            ("throughput", rates, "req/s"),
            ("memory after serving", memory, "MiB"),
        ):
            runc_median = statistics.median(values["runc"])
            gvisor_median = statistics.median(values["gvisor"])
            print(
                f"{label:22} runc {runc_median:9.2f} {unit:5}  gvisor {gvisor_median:9.2f}"
                f" {unit:5}  gvisor/runc {gvisor_median / runc_median:.2f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
