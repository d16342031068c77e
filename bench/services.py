"""Seconds to provision and to bind each plan of the built-in brokers, through a private
`yun server` and its API, as `yun create-service` and `yun create-service-key` do.

Baseline in the same run: starting the same kind of server by hand (initdb + pg_ctl start for
PostgreSQL, redis-server for Redis), so the platform's own overhead shows as a ratio.

Usage: .venv/bin/python bench/services.py [--plans postgresql:shared,postgresql:dedicated,...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from instances import Server, free_port

from yun.client.services import ServicesClient

DEFAULT_PLANS = (
    "postgresql:shared,postgresql:shared,postgresql:dedicated,redis:small,redis:medium,redis:large"
)


def wait_done(fetch, timeout: float = 300) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = fetch()["last_operation"].get("state")
        if state == "succeeded":
            return
        if state == "failed":
            raise SystemExit(f"failed: {fetch()['last_operation']}")
        time.sleep(0.05)
    raise SystemExit("timed out")


def measure(server: Server, offering: str, plan: str, n: int) -> tuple[float, float]:
    services = ServicesClient(server.api)
    name = f"bench-{plan}-{n}"
    began = time.perf_counter()
    created = services.create({"name": name, "offering": offering, "plan": plan})
    wait_done(lambda: services.instance(created["guid"]))
    provision = time.perf_counter() - began
    began = time.perf_counter()
    key = services.bind({"type": "key", "service_instance": created["guid"], "name": "k"})
    wait_done(lambda: services.binding(key["guid"]))
    bind = time.perf_counter() - began
    return provision, bind


def by_hand_postgresql(work: Path) -> float:
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    data = work / "pg"
    data.mkdir()
    root = os.geteuid() == 0
    if root:
        shutil.chown(work, "postgres")
        shutil.chown(data, "postgres")
    user = ["runuser", "-u", "postgres", "--"] if root else []
    port = str(free_port())
    began = time.perf_counter()
    subprocess.run(
        [*user, str(bins / "initdb"), "-D", str(data), "-A", "trust"],
        check=True,
        capture_output=True,
    )
    # The server inherits pg_ctl's output: a file, so that run() does not wait on its pipe.
    subprocess.run(
        [
            *user,
            str(bins / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(data / "log"),
            "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - began
    subprocess.run(
        [*user, str(bins / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return elapsed


def by_hand_redis(work: Path) -> float:
    port = free_port()
    began = time.perf_counter()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(work),
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        while (
            subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True
            ).stdout.strip()
            != "PONG"
        ):
            time.sleep(0.01)
        return time.perf_counter() - began
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plans", default=DEFAULT_PLANS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yun-bench-services-", dir="/tmp") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        baseline = {
            "postgresql": by_hand_postgresql(Path(tempfile.mkdtemp(dir=work))),
            "redis": by_hand_redis(Path(tempfile.mkdtemp(dir=work))),
        }
        server = Server(work, "process")
        try:
            print(f"{'plan':24} {'provision s':>12} {'bind s':>8} {'by hand s':>10} {'ratio':>6}")
            for n, item in enumerate(args.plans.split(",")):
                offering, plan = item.split(":")
                provision, bind = measure(server, offering, plan, n)
                hand = baseline[offering]
                print(
                    f"{item:24} {provision:12.2f} {bind:8.2f} {hand:10.2f} {provision / hand:6.2f}",
                    flush=True,
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
