"""What Yun's routing features cost: HAProxy with Yun's config vs a minimal hand-written one.

One instance (nginx serving a static file, or a threaded Python server when nginx is missing)
sits behind, in turn:

  hand-written  a minimal HAProxy config: one frontend, one backend, one server
  hand+log      the same with HAProxy's standard access log (`option httplog`) kept as one
                would by hand: into a ring, streamed out over the stats socket by a thread
                that appends it to a file
  hand+func+log the same plus what Yun does on every request, written by hand: a host map,
                X-Forwarded-For/-Proto, X-Request-Id and X-Request-Start; the like-for-like
                baseline for yun+log
  yun           HAProxy with the config yun.router renders (host routing, header injection,
                retries, error pages), access logs off
  yun+log       the same with access logs on, as the platform runs it: HAProxy logs into its
                ring, an AccessLogReceiver streams it out over the stats socket and the lines
                are appended to the app's log in a real LogStore
  direct        no proxy at all, for context

`wrk` drives each one; the figures that matter are the ratios yun / hand-written and, like for
like, yun+log / hand+func+log. Rounds run the
targets back to back, and each round's ratio compares runs seconds apart, so the median of the
per-round ratios resists the machine's drift better than a ratio of medians. Alongside, the CPU
time HAProxy (and, with logs, the reading thread) spent per request.

    .venv/bin/python bench/router.py --duration 5 --rounds 5 [--log-batch 0]
    .venv/bin/python bench/router.py --https --duration 5 --rounds 5   # bench/router_https.py
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from serving import free_port

from yun.logstore import LogStore
from yun.router import AccessLogReceiver, AppLines, HAProxy, Route, RouterConfig, Server
from yun.server.platform import store_access_lines

HOST = "bench.apps.localhost"
BODY = b"hello from the yun router benchmark\n"
APP_GUID = "6a1f7c3e-0b7d-4e8a-9f51-2c4d8e6b0a17"  # the benchmarked route's app


def wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def detached_haproxy(cfg: Path) -> subprocess.Popen[bytes]:
    """HAProxy in the foreground of a session of its own, as Yun's router (a daemon) and any
    HAProxy service run: left in the load generator's session, the kernel's autogroup
    scheduling shares the two cores differently, which moved results by about 10 %."""
    return subprocess.Popen(
        ["haproxy", "-db", "-f", str(cfg)], stdin=subprocess.DEVNULL, start_new_session=True
    )


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(stat_paths: list[str]) -> float:
    """utime + stime of the processes or threads whose /proc stat files are given."""
    ticks = 0
    for path in stat_paths:
        with contextlib.suppress(OSError):
            fields = Path(path).read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[str]:
    """Stat files of `pid` and its children (HAProxy's master and workers)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            children += [int(child) for child in task.read_text().split()]
    return [f"/proc/{p}/stat" for p in (pid, *children)]


def no_cpu() -> float:
    return 0.0


@dataclass
class Proxy:
    """A target's port, and the CPU seconds its proxy path (and, of that, the thread reading its
    access log) has spent so far."""

    port: int
    cpu: Callable[[], float]
    reader_cpu: Callable[[], float] = no_cpu


@contextlib.contextmanager
def nginx_instance(work: Path) -> Iterator[int]:
    """nginx with its own prefix under `work`, serving one static file."""
    prefix = work / "nginx"
    (prefix / "html").mkdir(parents=True)
    (prefix / "html" / "index.html").write_bytes(BODY)
    for path in (work, prefix, prefix / "html", prefix / "html" / "index.html"):
        path.chmod(0o755)  # nginx workers may run as another user
    port = free_port()
    temp = {name: prefix / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    (prefix / "nginx.conf").write_text(
        f"""worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    server {{
        listen 127.0.0.1:{port};
        root {prefix}/html;
    }}
}}
"""
    )
    proc = subprocess.Popen(
        ["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_listening(port)
        yield port
    finally:
        stop_process(proc)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def python_instance(work: Path) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


HAND_WRITTEN = """defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe
    bind 127.0.0.1:{port}
    default_backend app
backend app
    server s1 127.0.0.1:{instance}
"""
"""The smallest sensible HAProxy config in front of one instance: the baseline."""


@contextlib.contextmanager
def hand_written(work: Path, instance: int) -> Iterator[Proxy]:
    """The smallest sensible HAProxy config in front of the same instance."""
    port = free_port()
    cfg = work / "hand-written.cfg"
    cfg.write_text(HAND_WRITTEN.format(port=port, instance=instance))
    proc = detached_haproxy(cfg)
    try:
        wait_listening(port)
        yield Proxy(port, functools.partial(cpu_seconds, [f"/proc/{proc.pid}/stat"]))
    finally:
        stop_process(proc)


HAND_LOG_RING = "hand_log"


def hand_logged_config(port: int, instance: int, stats_socket: Path) -> str:
    """HAND_WRITTEN with HAProxy's standard HTTP log into a ring read over the stats socket."""
    head = f"""global
    stats socket {stats_socket} mode 600 level admin
    log ring@{HAND_LOG_RING} len 16384 format raw local0 info
ring {HAND_LOG_RING}
    format raw
    maxlen 16384
    size {16 << 20}
"""
    logged = HAND_WRITTEN.replace("defaults\n", "defaults\n    log global\n    option httplog\n")
    return head + logged.format(port=port, instance=instance)


def hand_function_config(port: int, instance: int, stats_socket: Path, hosts: Path) -> str:
    """What one would write by hand for the function Yun's router has on every request: a
    host map, the four forwarding headers, and HAProxy's standard access log into a ring."""
    logged = hand_logged_config(port, instance, stats_socket)
    return logged.replace(
        "    default_backend app\n",
        "    option forwardfor\n"
        "    http-request set-header X-Forwarded-Proto http\n"
        "    http-request set-header X-Request-Id %[uuid]\n"
        "    http-request set-header X-Request-Start t=%[date(0,ms)]\n"
        f"    use_backend %[req.hdr(host),field(1,:),lower,map_str({hosts})]\n"
        "    default_backend app\n",
    )


class RingToFile:
    """A thread that streams an HAProxy ring (`show events -w`) into a file, counting lines."""

    def __init__(self, stats_socket: Path, ring: str, out: Path) -> None:
        self.stats_socket, self.ring, self.out = stats_socket, ring, out
        self.lines = 0
        self.native_id = 0
        self._sock: socket.socket | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"could not stream {self.ring} from {self.stats_socket}")

    def _run(self) -> None:
        self.native_id = threading.get_native_id()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + 10
        while True:
            try:
                sock.connect(str(self.stats_socket))
                break
            except OSError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)
        sock.sendall(f"show events {self.ring} -w -n\n".encode())
        self._sock = sock
        self._ready.set()
        with self.out.open("ab") as out:
            while chunk := sock.recv(1 << 20):
                out.write(chunk)
                self.lines += chunk.count(b"\n")

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        if self._sock is not None:
            self._sock.close()


@contextlib.contextmanager
def hand_logged(
    work: Path, instance: int, readers: list[RingToFile], *, function: bool = False
) -> Iterator[Proxy]:
    """The hand-written config with its access log kept in a file (the reader joins `readers`);
    with `function`, also the host map and forwarding headers (`hand_function_config`)."""
    port = free_port()
    stats_socket = work / f"hand-{port}.sock"
    cfg = work / "hand-logged.cfg"
    if function:
        hosts = work / "hand-hosts.map"
        hosts.write_text(f"{HOST} app\n")
        cfg.write_text(hand_function_config(port, instance, stats_socket, hosts))
    else:
        cfg.write_text(hand_logged_config(port, instance, stats_socket))
    proc = detached_haproxy(cfg)
    reader = RingToFile(stats_socket, HAND_LOG_RING, work / f"hand-{port}.log")
    try:
        wait_listening(port)
        reader.start()
        readers.append(reader)
        thread = f"/proc/self/task/{reader.native_id}/stat"
        yield Proxy(
            port,
            functools.partial(cpu_seconds, [f"/proc/{proc.pid}/stat", thread]),
            functools.partial(cpu_seconds, [thread]),
        )
    finally:
        settle(reader)
        reader.stop()
        stop_process(proc)


@contextlib.contextmanager
def yun_router(
    work: Path, instance: int, *, routes: int, counter: LineCounter | None = None
) -> Iterator[Proxy]:
    """HAProxy run by yun.router exactly as the platform runs it; access logs on with `counter`.

    With routes > 1, other apps' routes are added; their hosts sort before the benchmarked one,
    so every request walks past all of their rules first (the worst case).
    """
    run_dir = Path(tempfile.mkdtemp(prefix="yr-", dir=work))
    config = RouterConfig("127.0.0.1", free_port(), run_dir, access_log=counter is not None)
    proxy = HAProxy(config)
    receiver = AccessLogReceiver(proxy.stats_socket, counter.store) if counter else None
    if receiver:
        receiver.start()
    try:
        others = [
            Route(f"app-{n:05}.apps.localhost", "", f"app-{n}", f"app-{n}", [])
            for n in range(routes - 1)
        ]
        bench = Route(HOST, "", APP_GUID, "bench", [Server("idx-0", "127.0.0.1", instance)])
        proxy.apply([*others, bench])
        stats = process_tree(proxy.pid() or 0)
        if not receiver:
            yield Proxy(config.port, functools.partial(cpu_seconds, stats))
            return
        receiver.reconnect()  # as the platform does after every apply
        thread = f"/proc/self/task/{receiver.native_id}/stat"
        yield Proxy(
            config.port,
            functools.partial(cpu_seconds, [*stats, thread]),
            functools.partial(cpu_seconds, [thread]),
        )
    finally:
        if receiver and counter:
            # Lines still in the ring when the run ends are not lost: let the receiver catch up.
            settle(counter)
            receiver.stop()
        proxy.stop()


class LineCounter:
    """Stores access lines as the platform does, counting them against the requests served."""

    def __init__(self, work: Path) -> None:
        self.logs = LogStore(Path(tempfile.mkdtemp(prefix="logs-", dir=work)))
        self.lines = 0

    def store(self, by_app: AppLines) -> None:
        store_access_lines(self.logs, by_app)
        self.lines += sum(lines.count(b"\n") for lines in by_app.values())


def settle(lines: LineCounter | RingToFile, quiet: float = 1.0, timeout: float = 30.0) -> None:
    """Wait until no access line has arrived for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    seen = -1
    while lines.lines != seen and time.monotonic() < deadline:
        seen = lines.lines
        time.sleep(quiet)


@contextlib.contextmanager
def direct(work: Path, instance: int) -> Iterator[Proxy]:
    yield Proxy(instance, no_cpu)


def wrk(port: int, args: argparse.Namespace, duration: float) -> dict[str, float]:
    argv = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{duration:g}s",
        "-H",
        f"Host: {HOST}",
        f"http://127.0.0.1:{port}/",
    ]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    requests = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if rps is None or requests is None:
        raise RuntimeError(f"could not read wrk output:\n{out}")
    return {
        "rps": float(rps.group(1)),
        "requests": float(requests.group(1)),
        "bad": float(non2xx.group(1)) if non2xx else 0.0,
        "errors": float(sum(int(n) for n in errors.groups())) if errors else 0.0,
    }


Target = Callable[[Path, int], contextlib.AbstractContextManager[Proxy]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1, help="repeat and report medians")
    parser.add_argument("--backend", choices=("nginx", "python"), default=None)
    parser.add_argument("--routes", type=int, default=1, help="routes in Yun's config")
    parser.add_argument(
        "--log-batch",
        type=float,
        default=AccessLogReceiver.batch_interval,
        help="seconds Yun's receiver rests after a small read (0: read every line at once)",
    )
    parser.add_argument(
        "--https",
        action="store_true",
        help="compare over HTTPS instead (keep-alive and handshakes): bench/router_https.py",
    )
    args, rest = parser.parse_known_args()
    if args.https:  # the HTTPS comparison has its own script; pass the options given here
        import router_https

        given = sys.argv[1:]
        sys.argv = [sys.argv[0], *rest]
        for option in ("--duration", "--rounds", "--threads", "--connections"):
            if any(arg == option or arg.startswith(option + "=") for arg in given):
                sys.argv += [option, str(getattr(args, option[2:]))]
        return router_https.main()
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    AccessLogReceiver.batch_interval = args.log_batch
    for tool in ("wrk", "haproxy"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed", file=sys.stderr)
            return 2
    backend = args.backend or ("nginx" if shutil.which("nginx") else "python")
    counters: list[LineCounter] = []
    readers: list[RingToFile] = []
    function_readers: list[RingToFile] = []

    def logged(work: Path, port: int) -> contextlib.AbstractContextManager[Proxy]:
        counters.append(LineCounter(work))
        return yun_router(work, port, routes=args.routes, counter=counters[-1])

    targets: dict[str, Target] = {
        "hand-written": hand_written,
        "hand+log": lambda work, port: hand_logged(work, port, readers),
        "hand+func+log": lambda work, port: hand_logged(
            work, port, function_readers, function=True
        ),
        "yun": lambda work, port: yun_router(work, port, routes=args.routes),
        "yun+log": logged,
        "direct": direct,
    }
    line_sources: dict[str, list[LineCounter] | list[RingToFile]] = {
        "hand+log": readers,
        "hand+func+log": function_readers,
        "yun+log": counters,
    }
    lines = {name: [0, 0] for name in line_sources}  # access lines, requests served
    results: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    with tempfile.TemporaryDirectory(prefix="yun-bench-") as tmp:
        work = Path(tmp)
        instance_of = nginx_instance if backend == "nginx" else python_instance
        with instance_of(work) as instance:
            print(
                f"instance: {backend} on 127.0.0.1:{instance}; wrk -t{args.threads}"
                f" -c{args.connections} -d{args.duration:g}s; {args.routes} route(s);"
                f" log batches of {args.log_batch:g} s; {os.cpu_count()} CPUs"
            )
            for round_no in range(args.rounds):
                for name, target in targets.items():
                    counter: LineCounter | RingToFile | None = None
                    with target(work, instance) as proxy:
                        if name in line_sources:
                            counter = line_sources[name][-1]
                        warm_up = wrk(proxy.port, args, 1)  # warm up connections and caches
                        if counter:
                            settle(counter, quiet=0.3)
                        began, reader_began = proxy.cpu(), proxy.reader_cpu()
                        result = wrk(proxy.port, args, args.duration)
                        if counter:
                            settle(counter, quiet=0.3)  # the log's deferred work counts too
                        per_request = 1e6 / result["requests"]
                        result["cpu_us"] = (proxy.cpu() - began) * per_request
                        result["reader_us"] = (proxy.reader_cpu() - reader_began) * per_request
                    results[name].append(result)
                    logs = ""
                    if counter:
                        served = int(warm_up["requests"] + result["requests"])
                        lines[name][0] += counter.lines
                        lines[name][1] += served
                        logs = (
                            f"  log reader {result['reader_us']:.1f} µs/request"
                            f"  access lines kept {counter.lines}/{served}"
                        )
                    print(
                        f"  round {round_no + 1} {name:14} {result['rps']:>10.0f} req/s"
                        f"  {result['cpu_us']:5.1f} µs CPU/request"
                        f"  non-2xx {result['bad']:.0f}  socket errors {result['errors']:.0f}"
                        + logs,
                        flush=True,
                    )
    print()
    print(f"{'':13} {'req/s':>10}  {'ratio':>5} (spread)     proxy CPU/request (log reader)")
    for name, runs in results.items():
        rps = statistics.median(r["rps"] for r in runs)
        cpu = statistics.median(r["cpu_us"] for r in runs)
        reader = statistics.median(r["reader_us"] for r in runs)
        print(
            f"{name:13} {rps:>10.0f}  {ratio(runs, results['hand-written'])}  {cpu:5.1f} µs"
            + (f" ({reader:.1f} µs)" if name in line_sources else "")
        )
    print(f"yun+log / hand+log: {ratio(results['yun+log'], results['hand+log'])}")
    print(
        "yun+log / hand+func+log (same function):"
        f" {ratio(results['yun+log'], results['hand+func+log'])}"
    )
    for name, (kept, served) in lines.items():
        print(f"{name}: {kept} access lines kept for {served} requests")
    return 0


def ratio(runs: list[dict[str, float]], base: list[dict[str, float]]) -> str:
    """The median of the per-round throughput ratios, and their spread."""
    ratios = [r["rps"] / b["rps"] for r, b in zip(runs, base, strict=True)]
    return f"{statistics.median(ratios):.3f} ({min(ratios):.2f}-{max(ratios):.2f})"


if __name__ == "__main__":
    sys.exit(main())
