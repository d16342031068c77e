"""What each of Yun's router features costs HAProxy, one feature removed at a time.

Renders Yun's HAProxy config for one route to one nginx instance, then runs variants with one
feature's lines taken out (or, for the access log, with a shorter record), and a minimal
hand-written config as the baseline. Each variant's HAProxy runs on its own, without the
stats socket, and with the access log on but no reader: what is measured is HAProxy's own CPU
time per request, the steadiest figure on a shared 2-core machine. `bench/router.py` measures
the whole path (with the receiver and the log store) against the baseline.

    .venv/bin/python bench/router_features.py --duration 4 --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import router as bench

from yun.router import Route, RouterConfig, Server
from yun.router.accesslog import LOG_FORMAT
from yun.router.config import render_files

# The record without the values a client sent: what quoting and escaping them costs.
NUMBERS_ONLY = LOG_FORMAT.split(' "', 1)[0]
SLOT_LOOKUP = re.compile(r" %\[srv_name,map_str\('[^']*'\)\] ")


def without(text: str, *needles: str) -> str:
    return "".join(line + "\n" for line in text.splitlines() if not any(n in line for n in needles))


def variants(run_dir: Path, instance: int) -> dict[str, str]:
    route = Route(bench.HOST, "", bench.APP_GUID, "bench", [Server("idx-0", "127.0.0.1", instance)])
    texts = {}
    for logging in (False, True):
        rendered = render_files(RouterConfig("127.0.0.1", 1, run_dir, access_log=logging), [route])
        for name, content in rendered.files.items():
            (run_dir / name).write_text(content)
        texts[logging] = rendered.text.replace("    stats socket", "    # stats socket")
    yun, logged = texts[False], texts[True]
    hand_hosts = run_dir / "hand-hosts.map"
    hand_hosts.write_text(f"{bench.HOST} app\n")
    return {
        "hand-written": bench.HAND_WRITTEN,
        "yun": yun,
        "yun - X-Forwarded-For": without(yun, "X-Forwarded-For"),
        "yun - X-Forwarded-Proto": without(yun, "X-Forwarded-Proto"),
        "yun - X-Request-Id": without(yun, "X-Request-Id"),
        "yun - X-Request-Start": without(yun, "X-Request-Start"),
        "yun - traceparent": without(yun, "traceparent", "yun_trace"),
        "yun - all five headers": without(
            yun,
            "X-Forwarded-For",
            "X-Forwarded-Proto",
            "X-Request-Id",
            "X-Request-Start",
            "traceparent",
            "yun_trace",
        ),
        "yun + log": logged,
        "yun + log, no client values": re.sub(
            r"log-format .*", f'log-format "{NUMBERS_ONLY}"', logged
        ),
        "yun + log - instance rules": without(
            logged, "yun_target", "stick match", "cookie __VCAP_ID__", "Set-Cookie"
        ),
        "yun + log - 503 rule": without(logged, "nbsrv"),
        "yun + log - retries": without(logged, "retry-on", "retries", "redispatch"),
        "yun + log - slot lookup": logged.replace(SLOT_LOOKUP.search(logged).group(0), " %s "),
        "yun + log - five headers": without(
            logged,
            'X-Forwarded-For"',
            "X-Forwarded-For %",
            "X-Forwarded-Proto",
            "X-Request-Id %",
            "X-Request-Start",
            "set-header traceparent",
            "set-var(txn.yun_trace) uuid",
        ),
        # What one would write by hand for the same function (host map, forwarding headers).
        "hand + function + httplog": bench.hand_function_config(
            0, instance, run_dir / "unused.sock", hand_hosts
        ).replace("    stats socket", "    # stats socket"),
        # HAProxy's standard log into a ring, no reader, as the yun + log variants.
        "hand-written + httplog": bench.hand_logged_config(
            0, instance, run_dir / "unused.sock"
        ).replace("    stats socket", "    # stats socket"),
    }


def measure(
    text: str, *, work: Path, instance: int, args: argparse.Namespace
) -> tuple[float, float]:
    port = bench.free_port()
    text = re.sub(r"bind 127\.0\.0\.1:\d+", f"bind 127.0.0.1:{port}", text)
    config = work / f"variant-{port}.cfg"
    config.write_text(text.format(port=port, instance=instance) if "{port}" in text else text)
    subprocess.run(["haproxy", "-c", "-q", "-f", str(config)], check=True)
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdin=subprocess.DEVNULL)
    try:
        bench.wait_listening(port)
        bench.wrk(port, args, 1)  # warm-up
        stat = [f"/proc/{proc.pid}/stat"]
        began = bench.cpu_seconds(stat)
        result = bench.wrk(port, args, args.duration)
        cpu_us = (bench.cpu_seconds(stat) - began) * 1e6 / result["requests"]
        return result["rps"], cpu_us
    finally:
        bench.stop_process(proc)


@contextlib.contextmanager
def serving_variants() -> Iterator[tuple[Path, int, dict[str, str]]]:
    """A work folder, an nginx instance's port and the variants' configs for it."""
    with tempfile.TemporaryDirectory(prefix="yun-bench-") as tmp:
        work = Path(tmp)
        run_dir = work / "router"
        run_dir.mkdir()
        with bench.nginx_instance(work) as instance:
            yield work, instance, variants(run_dir, instance)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    with serving_variants() as (work, instance, cases):
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, text in cases.items():
                runs[name].append(measure(text, work=work, instance=instance, args=args))
    base = statistics.median(cpu for _, cpu in runs["hand-written"])
    print(f"{'variant':26} {'req/s':>8}  {'HAProxy CPU/request':>19}  {'over hand-written':>17}")
    for name, results in runs.items():
        rps = statistics.median(r for r, _ in results)
        cpu = statistics.median(c for _, c in results)
        print(f"{name:26} {rps:>8.0f}  {cpu:>16.2f} µs  {cpu - base:>+14.2f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
