"""What Yun's HTTPS costs: HAProxy with Yun's rendered TLS config vs a hand-written one.

One instance (nginx serving a static file) sits behind, in turn:

  hand-written  a minimal HAProxy TLS config: one `bind … ssl crt` with the same certificate,
                ciphers and ALPN, one backend, one server
  yun           HAProxy with the config yun.router renders for HTTPS (crt-list with SNI,
                host routing, forwarding headers, error pages), access logs off

in two cases: keep-alive (wrk's connections reused: the cost per request) and new connections
(`Connection: close`: a TLS handshake per request, handshakes/s). Both use the same ECDSA
P-256 certificate from the platform CA. Rounds run the targets back to back and the ratio is
the median of the per-round ratios yun / hand-written.

    .venv/bin/python bench/router_https.py --duration 5 --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from router import (
    HOST,
    detached_haproxy,
    free_port,
    nginx_instance,
    stop_process,
    wait_listening,
)

from yun.router import HAProxy, Route, RouterConfig, Server
from yun.router.config import TLS12_CIPHERS, TLS13_SUITES
from yun.tls import Certificate, ensure_ca, issue

HAND_WRITTEN = """global
    ssl-default-bind-ciphers {ciphers}
    ssl-default-bind-ciphersuites {suites}
    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend web
    bind 127.0.0.1:{port} ssl crt {pem} alpn h2,http/1.1
    default_backend app
backend app
    server s1 127.0.0.1:{instance}
"""


@contextlib.contextmanager
def hand_written(work: Path, instance: int, certificate: Certificate) -> Iterator[int]:
    port = free_port()
    pem = work / "hand.pem"
    pem.write_text(certificate.bundle)
    cfg = work / "hand-tls.cfg"
    cfg.write_text(
        HAND_WRITTEN.format(
            port=port,
            instance=instance,
            pem=pem,
            ciphers=":".join(TLS12_CIPHERS),
            suites=":".join(TLS13_SUITES),
        )
    )
    proc = detached_haproxy(cfg)
    try:
        wait_listening(port)
        yield port
    finally:
        stop_process(proc)


@contextlib.contextmanager
def yun_router(work: Path, instance: int, certificate: Certificate) -> Iterator[int]:
    port = free_port()
    config = RouterConfig(
        bind="127.0.0.1", port=free_port(), run_dir=work / "yun-router", https_port=port
    )
    proxy = HAProxy(config)
    route = Route(HOST, "", "bench", "bench", [Server("s1", "127.0.0.1", instance)])
    proxy.apply([route], certificates=[certificate])
    try:
        wait_listening(port)
        yield port
    finally:
        proxy.stop()


def wrk(port: int, args: argparse.Namespace, *, new_connections: bool) -> float:
    argv = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration:g}s"]
    argv += ["-H", f"Host: {HOST}"]
    if new_connections:
        argv += ["-H", "Connection: close"]
    argv.append(f"https://127.0.0.1:{port}/")
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None or "Non-2xx" in out:
        raise RuntimeError(f"wrk did not get answers:\n{out}")
    return float(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    targets: dict[str, Callable[..., contextlib.AbstractContextManager[int]]] = {
        "hand-written": hand_written,
        "yun": yun_router,
    }
    cases = {"keep-alive": False, "new connections": True}
    runs: dict[tuple[str, str], list[float]] = {(t, c): [] for t in targets for c in cases}
    with tempfile.TemporaryDirectory(prefix="yun-bench-https-") as folder:
        work = Path(folder)
        certificate = issue(ensure_ca(work / "ca"), (HOST,))
        with nginx_instance(work) as instance:
            for round_ in range(args.rounds):
                for target, serve in targets.items():
                    with serve(work, instance, certificate) as port:
                        for case, new in cases.items():
                            runs[target, case].append(wrk(port, args, new_connections=new))
                print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    for case in cases:
        hand, yun = runs["hand-written", case], runs["yun", case]
        ratios = sorted(y / h for y, h in zip(yun, hand, strict=True))
        print(
            f"{case:16} hand-written {statistics.median(hand):10,.0f} req/s"
            f"   yun {statistics.median(yun):10,.0f} req/s"
            f"   yun/hand {statistics.median(ratios):.3f} ({ratios[0]:.2f}-{ratios[-1]:.2f})"
            "   (target >= 0.9)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
