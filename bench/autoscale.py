"""Seconds from a load step to the autoscaler's decision, and to enough running instances.

A private `yun server` runs hello-python (process driver) with `yun autoscale --min 1 --max 8
--rps 50`; after a quiet spell, wrk starts a steady load through the router (2 threads, 16
connections, far above 50 requests/s for one instance). Printed: seconds from the step to the
first scale-up event (the decision), and to all 8 instances RUNNING (the decision plus the
instances' own start-up). Then the load stops and the script reports the scale-down, which
waits for the 5-minute stabilization window (skipped with --no-down).

Usage: .venv/bin/python bench/autoscale.py [--no-down]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from instances import ROOT, Server

HOST = "hello-python.apps.localhost"
MAX = 8


def scale_events(server: Server) -> list[dict[str, object]]:
    found = server.api.events(server.guid, limit=200)
    return sorted(
        (e for e in found if e["type"] == "app.autoscale"), key=lambda e: float(e["timestamp"])
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-down", action="store_true", help="Skip waiting for scale-down.")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="yun-bench-autoscale-") as tmp:
        work = Path(tmp)
        server = Server(work, "process")
        try:
            server.cli("push", "-p", str(ROOT / "examples" / "hello-python"))
            server.guid = server.api.find_app("hello-python")["guid"]
            server.wait_running(1)
            server.cli("autoscale", "hello-python", "--min", "1", "--max", str(MAX), "--rps", "50")
            time.sleep(3)
            router = server.env["YUN_ROUTER_PORT"]
            step = time.time()
            load = subprocess.Popen(
                [
                    "wrk",
                    "-t2",
                    "-c16",
                    "-d600s",
                    "-H",
                    f"Host: {HOST}",
                    f"http://127.0.0.1:{router}/",
                ],
                stdout=subprocess.DEVNULL,
            )
            try:
                enough = step + server.wait_running(MAX, timeout=120)
            finally:
                load.send_signal(signal.SIGINT)
                load.wait(30)
            events = scale_events(server)
            decided = float(events[0]["timestamp"]) if events else float("nan")
            print(f"load step -> first scale-up decision: {decided - step:6.2f} s (target <= 6 s)")
            print(f"load step -> {MAX} instances RUNNING:    {enough - step:6.2f} s")
            for event in events:
                data = event["data"]
                assert isinstance(data, dict)
                print(
                    f"  +{float(event['timestamp']) - step:6.2f} s  {data['from']} -> {data['to']}"
                    f"  {data['reason']}"
                )
            if not args.no_down:
                quiet = time.time()
                server.wait_running(1, timeout=600)
                while server.running() > 1 and time.time() - quiet < 600:
                    time.sleep(1)
                print(f"load stop -> back to 1 instance:       {time.time() - quiet:6.2f} s")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
