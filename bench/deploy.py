"""Deployment duration and failed requests under load, per strategy.

For each strategy a private `yun server` runs hello-python with 4 instances; wrk keeps requests
coming through the router (2 threads, 16 connections) while `yun push --strategy S` sends a
one-line change. Printed per strategy: seconds of the whole push (upload, staging, deployment),
seconds of the deployment itself (from its creation until the new revision alone serves), and
what wrk counted: requests, non-2xx answers and socket errors. `recreate` replaces every instance
at once and is the same-run baseline a rolling deployment is measured against.

A canary (10 %) is continued as soon as it pauses; blue-green keeps the old set 2 s.

Usage: .venv/bin/python bench/deploy.py [--strategies rolling,canary,blue-green,recreate]
       [--driver process]
"""

from __future__ import annotations

import argparse
import re
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
STRATEGY_FLAGS = {
    "rolling": ["--strategy", "rolling"],
    "canary": ["--strategy", "canary", "--instance-steps", "10"],
    "blue-green": ["--strategy", "blue-green", "--keep-old", "2"],
    "recreate": ["--strategy", "recreate"],
}


def wrk_report(text: str) -> dict[str, int]:
    requests = re.search(r"(\d+) requests in", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return {
        "requests": int(requests.group(1)) if requests else 0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
    }


def measure(strategy: str, driver: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"yun-bench-deploy-{strategy}-") as tmp:
        work = Path(tmp)
        app = work / "app"
        shutil.copytree(ROOT / "examples" / "hello-python", app)
        server = Server(work, driver)
        try:
            server.cli("push", "-p", str(app), "-i", "4")
            server.guid = server.api.find_app("hello-python")["guid"]
            server.wait_running(4)
            router = server.env["YUN_ROUTER_PORT"]
            load = subprocess.Popen(
                [
                    "wrk",
                    "-t2",
                    "-c16",
                    "-d300s",
                    "-H",
                    f"Host: {HOST}",
                    f"http://127.0.0.1:{router}/",
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                time.sleep(2)
                (app / "app.py").write_text((app / "app.py").read_text() + "\n# changed\n")
                began = time.perf_counter()
                server.cli("push", "-p", str(app), *STRATEGY_FLAGS[strategy])
                if strategy == "canary":  # paused at 10 %: go on to the end
                    server.cli("continue-deployment", "hello-python")
                pushed = time.perf_counter() - began
                time.sleep(2)
            finally:
                load.send_signal(signal.SIGINT)  # wrk stops and prints its report
                report, _ = load.communicate(timeout=30)
            deployments = server.api.deployments(server.guid)
            deployed = (
                float(deployments[0]["updated_at"]) - float(deployments[0]["created_at"])
                if deployments
                else float("nan")  # recreate switches at once: no deployment record
            )
        finally:
            server.stop()
    counted = wrk_report(report)
    return {"push": pushed, "deployment": deployed, **counted}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", default="rolling,canary,blue-green,recreate")
    parser.add_argument("--driver", default="process")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed", file=sys.stderr)
        return 2
    columns = ("push s", "deploy s", "requests", "non-2xx", "errors")
    print(f"{'strategy':10} " + " ".join(f"{c:>9}" for c in columns))
    for strategy in args.strategies.split(","):
        r = measure(strategy, args.driver)
        print(
            f"{strategy:10} {r['push']:>9.2f} {r['deployment']:>9.2f} {r['requests']:>9.0f}"
            f" {r['non2xx']:>9.0f} {r['socket_errors']:>9.0f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
