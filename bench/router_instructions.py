"""What each router feature costs HAProxy, in CPU instructions per request (callgrind).

Wall-clock and CPU-time figures on a shared 2-core VM move by a microsecond or two per request
from one run to the next, as much as the features being compared. Instructions do not: each
variant of the config runs single-threaded under `valgrind --tool=callgrind` and answers the
same requests (one keep-alive connection, the same headers), and the figure is
(instructions with N requests - instructions with none) / N, the same from run to run.

The variants are `bench/router_features.py`'s (Yun's config with one feature taken out, the
hand-written baselines). Instructions are not time (a cache miss costs more than an add), but
a difference of a few hundred instructions per request is a real difference.

    .venv/bin/python bench/router_instructions.py [--requests 2000] [--only 'yun + log,hand']
"""

from __future__ import annotations

import argparse
import http.client
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import router as bench
import router_features as features


def instructions(config: Path, port: int, requests: int) -> int:
    """Total instructions HAProxy ran to start, answer `requests` requests and stop."""
    out = config.with_suffix(f".{requests}.callgrind")
    proc = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            "haproxy",
            "-db",
            "-f",
            str(config),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        bench.wait_listening(port, timeout=120)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Host": bench.HOST, "User-Agent": "bench", "Accept": "*/*"}
        for _ in range(requests):
            conn.request("GET", "/", headers=headers)
            conn.getresponse().read()
        conn.close()
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGUSR1)  # a soft stop: HAProxy exits, callgrind writes out
        proc.wait(120)
    text = out.read_text()
    match = re.search(r"^summary: (\d+)", text, re.M) or re.search(r"^totals: (\d+)", text, re.M)
    if match is None:
        raise SystemExit(f"no totals in {out}")
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--only", default="", help="comma-separated variant names")
    args = parser.parse_args()
    with features.serving_variants() as (work, instance, cases):
        wanted = [n.strip() for n in args.only.split(",") if n.strip()] or list(cases)
        print(f"{'variant':30} {'instructions/request':>20}")
        for name in wanted:
            port = bench.free_port()
            text = re.sub(r"bind 127\.0\.0\.1:\d+", f"bind 127.0.0.1:{port}", cases[name])
            text = text.format(port=port, instance=instance) if "{port}" in text else text
            text = text.replace("global\n", "global\n    nbthread 1\n", 1)
            if not text.startswith("global") and "\nglobal\n" not in text:
                text = "global\n    nbthread 1\n" + text
            config = work / f"variant-{port}.cfg"
            config.write_text(text)
            subprocess.run(["haproxy", "-c", "-q", "-f", str(config)], check=True)
            idle = instructions(config, port, 0)
            busy = instructions(config, port, args.requests)
            print(f"{name:30} {(busy - idle) / args.requests:>20,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
