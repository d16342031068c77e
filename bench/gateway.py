"""What the gateway costs: a route with a rate limit, API keys and JWT on, against the same route
without them.

One nginx instance sits behind HAProxy configs that `yun.router` renders for one route:

  plain     the route as it is by default (no gateway option)
  gateway   the same with `rate_limit` per client address, `api_keys` (a key on a plan with a
            rate and a quota, each request's key hashed, looked up and counted twice) and JWT
            (a bearer token checked against the route's key, `exp` read, `sub` forwarded)

Limits are set far above what the run sends, so every request is served: the figure is what
checking and counting cost. `--alg` picks the token's algorithm: HS256 (a shared secret) or
RS256 (an RSA key; each request is one RSA verification). Each variant's HAProxy runs on its
own (no stats socket, access log off); rounds alternate the variants and the ratio is the
median of each round's gateway / plain. HAProxy's CPU time per request is printed alongside.

Throughput on a small shared machine moves by ±10 % from round to round. `--instructions`
counts instead what HAProxy executes per request (valgrind's callgrind, one thread, the same
requests on one keep-alive connection): the same figure on every run, what the gateway's rules
cost and nothing else.

    .venv/bin/python bench/gateway.py --duration 5 --rounds 5 [--alg RS256]
    .venv/bin/python bench/gateway.py --instructions [--alg RS256]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

import router as bench
from tests.tokens import Issuer

from yun.jwks import parse_jwks
from yun.router import KeyLimits, Policy, Route, RouterConfig, Server, key_entry
from yun.router.config import render_files

SCOPE = "bench-route"
KEY = "yun_bench-key-of-the-gateway-benchmark"
HUGE = 10_000_000  # a limit no run reaches


def configs(run_dir: Path, instance: int, alg: str) -> dict[str, str]:
    issuer = Issuer()
    server = [Server("idx-0", "127.0.0.1", instance)]
    plain = Route(bench.HOST, "", bench.APP_GUID, "bench", server)
    gated = Route(
        bench.HOST,
        "",
        bench.APP_GUID,
        "bench",
        server,
        policy=Policy(
            rate_limit=HUGE,
            rate_window=1,
            api_keys=SCOPE,
            jwt=True,
            jwt_keys=tuple(k for k in parse_jwks(issuer.jwks(secret=True)) if k.alg == alg),
            jwt_claims=("sub",),
        ),
    )
    limits = KeyLimits(rate=HUGE, rate_window=1, quota=HUGE, quota_window=86400)
    keys = {key_entry(SCOPE, hashlib.sha256(KEY.encode()).hexdigest()): limits}
    texts = {}
    for name, route in (("plain", plain), ("gateway", gated)):
        config = RouterConfig("127.0.0.1", 1, run_dir, access_log=False)
        rendered = render_files(config, [route], api_keys=keys)
        for file, content in rendered.files.items():
            (run_dir / file).write_text(content)
        texts[name] = rendered.text.replace("    stats socket", "    # stats socket")
    token = issuer.token({"sub": "bench-client"}, alg=alg, ttl=24 * 3600)
    texts["headers"] = f"X-Api-Key: {KEY}\nAuthorization: Bearer {token}"
    return texts


def wrk(
    port: int, headers: list[str], args: argparse.Namespace, duration: float
) -> dict[str, float]:
    argv = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration:g}s"]
    for header in [f"Host: {bench.HOST}", *headers]:
        argv += ["-H", header]
    out = subprocess.run(
        [*argv, f"http://127.0.0.1:{port}/"], capture_output=True, text=True, check=True
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    requests = re.search(r"(\d+) requests in", out)
    if rps is None or requests is None:
        raise RuntimeError(f"could not read wrk output:\n{out}")
    if re.search(r"Non-2xx or 3xx responses", out):
        raise RuntimeError(f"some requests were refused:\n{out}")
    return {"rps": float(rps.group(1)), "requests": float(requests.group(1))}


def measure(
    text: str, headers: list[str], *, work: Path, args: argparse.Namespace
) -> tuple[float, float]:
    """Requests per second through this config, and HAProxy's CPU µs per request."""
    port = bench.free_port()
    text = re.sub(r"bind 127\.0\.0\.1:\d+", f"bind 127.0.0.1:{port}", text)
    config = work / f"variant-{port}.cfg"
    config.write_text(text)
    subprocess.run(["haproxy", "-c", "-q", "-f", str(config)], check=True)
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdin=subprocess.DEVNULL)
    try:
        bench.wait_listening(port)
        wrk(port, headers, args, 1)  # warm-up
        stat = [f"/proc/{proc.pid}/stat"]
        began = bench.cpu_seconds(stat)
        result = wrk(port, headers, args, args.duration)
        return result["rps"], (bench.cpu_seconds(stat) - began) * 1e6 / result["requests"]
    finally:
        bench.stop_process(proc)


def _ask(port: int, request: bytes, count: int) -> None:
    """`count` requests on one keep-alive connection, each answered 200 before the next."""
    with socket.create_connection(("127.0.0.1", port)) as conn, conn.makefile("rb") as answers:
        for _ in range(count):
            conn.sendall(request)
            status = answers.readline()
            if b" 200 " not in status:
                raise RuntimeError(f"the route answered {status!r}")
            length = 0
            while (line := answers.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            answers.read(length)


def instructions(text: str, headers: list[str], *, work: Path, count: int) -> float:
    """What one HAProxy thread executes per request through this config (callgrind)."""
    port = bench.free_port()
    text = re.sub(r"bind 127\.0\.0\.1:\d+", f"bind 127.0.0.1:{port}", text)
    config = work / f"counted-{port}.cfg"
    config.write_text(text.replace("global\n", "global\n    nbthread 1\n", 1))
    out = work / f"callgrind-{port}.out"
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-line=no"]
    proc = subprocess.Popen(
        [*argv, "haproxy", "-db", "-f", str(config)],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        bench.wait_listening(port, timeout=60)
        lines = ["GET / HTTP/1.1", f"Host: {bench.HOST}", *headers]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        _ask(port, request, 50)  # warm: the token and the key cached, pools filled
        subprocess.run(["callgrind_control", "--zero", str(proc.pid)], capture_output=True)
        _ask(port, request, count)
        subprocess.run(["callgrind_control", "--dump", str(proc.pid)], capture_output=True)
        time.sleep(0.5)
    finally:
        bench.stop_process(proc)
    dumped = sorted(work.glob(f"callgrind-{port}.out.*"))  # the --dump, then the exit's
    total = re.search(r"^(?:summary|totals): (\d+)", dumped[0].read_text(), re.MULTILINE)
    if total is None:
        raise RuntimeError(f"no total in {dumped[0]}")
    return int(total.group(1)) / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--alg", choices=("HS256", "RS256"), default="HS256")
    parser.add_argument("--instructions", action="store_true", help="count, with callgrind")
    parser.add_argument("--requests", type=int, default=2000, help="counted (--instructions)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yun-bench-gateway-") as tmp:
        work = Path(tmp)
        run_dir = work / "router"
        run_dir.mkdir()
        with bench.nginx_instance(work) as instance:
            texts = configs(run_dir, instance, args.alg)
            headers = texts.pop("headers").splitlines()
            if args.instructions:
                counted = {
                    name: instructions(text, headers, work=work, count=args.requests)
                    for name, text in texts.items()
                }
                for name, per in counted.items():
                    print(f"{name:10} {per:>9,.0f} instructions per request")
                extra = counted["gateway"] - counted["plain"]
                print(f"gateway ({args.alg}) - plain: {extra:,.0f} instructions per request")
                return 0
            runs: dict[str, list[tuple[float, float]]] = {name: [] for name in texts}
            for _ in range(args.rounds):
                for name, text in texts.items():
                    runs[name].append(measure(text, headers, work=work, args=args))
    ratios = [g[0] / p[0] for g, p in zip(runs["gateway"], runs["plain"], strict=True)]
    print(f"{'route':10} {'req/s':>8}  {'HAProxy CPU/request':>19}")
    for name, results in runs.items():
        rps = statistics.median(r for r, _ in results)
        cpu = statistics.median(c for _, c in results)
        print(f"{name:10} {rps:>8.0f}  {cpu:>16.2f} µs")
    print(
        f"gateway ({args.alg}) / plain: {statistics.median(ratios):.3f}"
        f" (rounds {min(ratios):.3f}-{max(ratios):.3f}); target >= 0.85"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
