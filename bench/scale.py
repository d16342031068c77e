"""One machine at its limit: many routes, many instances, and instances churning.

Three parts, each size measured in one run (`--parts` picks them):

  routes     A private `yun server` (process driver) serves examples/hello-static. N other
             apps, each with one route and no instance (stopped: the router answers 503 for
             them), are written into its store, as a big installation's store would hold
             them, and the router picks them up. Then, at each size: the time from
             `yun map-route hello-static … --hostname NEW` to NEW answering 200 through the
             router, when the hostname is new for an existing backend (a line added to the
             host map at run time) and when the route needs a backend of its own (a reload);
             the router's own render, `haproxy -c` and reload times for the same table; and
             HAProxy's memory (master and workers, RSS).
  instances  A private `yun server` (process driver) scales hello-static to N instances:
             the time until all are RUNNING, then, after `--quiet` seconds of quiet, the CPU
             `yun server` used over another `--quiet` seconds (% of one core) and its RSS,
             the mean duration of its instance controller's pass (which tells the agent what
             should run), and the mean duration of the agent's own pass (liveness, health
             checks and restarts of every instance).
  churn      hello-static with 20 instances behind the router under a steady wrk load: once
             held at 20, once moved between 2 and 20 (as the autoscaler would, by the same
             API) for the same time. Latency p50/p99 through the router and HAProxy reloads.

    .venv/bin/python bench/scale.py [--parts routes,instances,churn] [--routes 10,100,1000,5000]
        [--instances 10,100,300,500] [--quiet 60] [--churn-seconds 60]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from serving import free_port, running_server, server_env, yun_cli

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from yun.client import ApiClient  # noqa: E402
from yun.router import HAProxy, Route, RouterConfig, Server  # noqa: E402
from yun.router.config import render_files  # noqa: E402

APP = "hello-static"


def waited(condition: Callable[[], bool], timeout: float, interval: float, what: str) -> float:
    """Seconds until `condition` held; exits the benchmark if it did not within `timeout`."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if condition():
            return time.perf_counter() - start
        time.sleep(interval)
    raise SystemExit(f"not within {timeout}s: {what}")


class Platform:
    """A running private `yun server` and a logged-in client."""

    def __init__(self, env: dict[str, str], url: str) -> None:
        self.env = env
        self.url = url
        self.cli("login", "-a", url, "-p", env["YUN_ADMIN_PASSWORD"])
        self.api = ApiClient(
            url, ApiClient(url).login("admin", env["YUN_ADMIN_PASSWORD"])["access_token"]
        )
        self.router = f"http://127.0.0.1:{env['YUN_ROUTER_PORT']}"

    def cli(self, *args: str) -> str:
        return yun_cli(self.env, *args)

    def push(self, work: Path) -> str:
        app = work / APP
        shutil.copytree(ROOT / "examples" / APP, app)
        self.cli("push", "-p", str(app))
        return str(self.api.find_app(APP)["guid"])

    def answers(self, host: str, path: str = "/") -> int:
        try:
            return httpx.get(self.router + path, headers={"Host": host}, timeout=5).status_code
        except httpx.HTTPError:
            return 0

    def wait_answer(
        self, host: str, status: int = 200, timeout: float = 120, path: str = "/"
    ) -> float:
        return waited(
            lambda: self.answers(host, path) == status, timeout, 0.01, f"{host}{path}: {status}"
        )

    def running(self, guid: str) -> int:
        (app,) = [a for a in self.api.apps(APP) if a["guid"] == guid]
        return int(next(p for p in app["processes"] if p["type"] == "web")["running"])

    def wait_running(self, guid: str, count: int, timeout: float = 900) -> float:
        return waited(lambda: self.running(guid) == count, timeout, 0.2, f"{count} RUNNING")

    def server_pid(self) -> int:
        return int((Path(self.env["YUN_HOME"]) / "server.pid").read_text().split()[0])

    def haproxy_pid(self) -> int:
        run = Path(self.env["YUN_HOME"]) / "router"
        return int((run / "haproxy.pid").read_text().split()[0])

    def metric(self, name: str, **labels: str) -> float:
        token = self.api._http.headers["Authorization"]
        text = httpx.get(f"{self.url}/metrics", headers={"Authorization": token}, timeout=10).text
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total


@contextlib.contextmanager
def platform(work: Path, **settings: str) -> Iterator[Platform]:
    env = server_env(work, **settings)
    with running_server(env) as url:
        yield Platform(env, url)


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def tree(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in task.read_text().split()]
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- routes -----------------------------------------------------------------------------------


def seed_apps(home: Path, start: int, count: int) -> None:
    """`count` stopped apps with one route each, written into the server's store."""
    from yun.store.models import App, Domain, Process, Route, RouteMapping, Space
    from yun.store.sealing import KEY_FILE
    from yun.store.session import Store

    store = Store(f"sqlite:///{home / 'yun.db'}", key_file=home / KEY_FILE)
    with store.session() as session:
        space = session.query(Space).first()
        domain = session.query(Domain).filter(Domain.internal.is_(False)).first()
        assert space is not None and domain is not None
        for n in range(start, start + count):
            app = App(guid=str(uuid.uuid4()), name=f"idle-{n}", space_guid=space.guid)
            session.add(app)
            session.add(Process(guid=str(uuid.uuid4()), app_guid=app.guid, type="web"))
            route = Route(
                guid=str(uuid.uuid4()),
                host=f"idle-{n}",
                domain_guid=domain.guid,
                space_guid=space.guid,
            )
            session.add(route)
            session.add(
                RouteMapping(guid=str(uuid.uuid4()), route_guid=route.guid, app_guid=app.guid)
            )
    store.engine.dispose()


def router_costs(count: int, work: Path) -> dict[str, float]:
    """Render, check and reload times of HAProxy itself for `count` instance-less routes and
    one served one (a route change on a router of that size), and HAProxy's RSS."""
    run = work / f"router-{count}"
    config = RouterConfig("127.0.0.1", free_port(), run, access_log=True)
    routes = [
        Route(f"idle-{n}.apps.localhost", "", f"{uuid.UUID(int=n)}_r", f"idle-{n}", [])
        for n in range(count)
    ]
    served = Route("x.apps.localhost", "", str(uuid.uuid4()), "x", [Server("w", "127.0.0.1", 9)])
    began = time.perf_counter()
    rendered = render_files(config, [*routes, served])
    render = time.perf_counter() - began
    run.mkdir(parents=True)
    for name, content in rendered.files.items():
        (run / name).write_text(content)
    (run / "check.cfg").write_text(rendered.text)
    began = time.perf_counter()
    subprocess.run(["haproxy", "-c", "-q", "-f", str(run / "check.cfg")], check=True)
    check = time.perf_counter() - began
    haproxy = HAProxy(config)
    try:
        haproxy.apply([*routes, served])
        extra = Route("y.apps.localhost", "", str(uuid.uuid4()), "y", [Server("w", "127.0.0.1", 9)])
        began = time.perf_counter()
        haproxy.apply([*routes, served, extra])  # a new backend: render, check, reload
        reload = time.perf_counter() - began
        time.sleep(1)
        pid = haproxy.pid()
        assert pid is not None
        rss = rss_kib(tree(pid))
    finally:
        haproxy.stop()
    return {"render": render, "check": check, "apply_reload": reload, "rss_mib": rss / 1024}


def routes_part(sizes: list[int]) -> list[dict[str, float]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="yun-bench-scale-") as work_dir:
        work = Path(work_dir)
        with platform(work) as plat:
            plat.push(work)
            seeded = 0
            for size in sizes:
                seed_apps(Path(plat.env["YUN_HOME"]), seeded, size - seeded)
                seeded = size
                # The router learns of rows written behind the API at its next resync.
                plat.wait_answer(f"idle-{size - 1}.apps.localhost", status=503, timeout=300)
                alias, own = [], []
                for n in range(3):
                    host = f"alias-{size}-{n}"
                    began = time.perf_counter()
                    plat.cli("map-route", APP, "apps.localhost", "--hostname", host)
                    plat.wait_answer(f"{host}.apps.localhost")
                    alias.append(time.perf_counter() - began)
                    host = f"own-{size}-{n}"
                    began = time.perf_counter()
                    plat.cli(
                        "map-route",
                        APP,
                        "apps.localhost",
                        "--hostname",
                        host,
                        "--path",
                        "/index.html",
                    )
                    plat.wait_answer(f"{host}.apps.localhost", path="/index.html")
                    own.append(time.perf_counter() - began)
                costs = router_costs(size, work)
                row = {
                    "routes": size,
                    "map_route_alias_s": statistics.median(alias),
                    "map_route_reload_s": statistics.median(own),
                    "platform_haproxy_rss_mib": rss_kib(tree(plat.haproxy_pid())) / 1024,
                    **costs,
                }
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


# -- instances --------------------------------------------------------------------------------


def instances_part(sizes: list[int], quiet: float) -> list[dict[str, float]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="yun-bench-scale-") as work_dir:
        work = Path(work_dir)
        with platform(work) as plat:
            guid = plat.push(work)
            for size in sizes:
                began = time.perf_counter()
                plat.api.scale(guid, "web", instances=size)
                plat.wait_running(guid, size)
                to_running = time.perf_counter() - began
                time.sleep(quiet)
                pid = plat.server_pid()
                passes = plat.metric("yun_reconcile_duration_seconds_count", controller="instances")
                spent = plat.metric("yun_reconcile_duration_seconds_sum", controller="instances")
                agent_passes = plat.metric("yun_agent_pass_duration_seconds_count")
                agent_spent = plat.metric("yun_agent_pass_duration_seconds_sum")
                cpu_before, t_before = cpu_seconds(pid), time.monotonic()
                time.sleep(quiet)
                cpu = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - t_before)
                passes = (
                    plat.metric("yun_reconcile_duration_seconds_count", controller="instances")
                    - passes
                )
                spent = (
                    plat.metric("yun_reconcile_duration_seconds_sum", controller="instances")
                    - spent
                )
                agent_passes = plat.metric("yun_agent_pass_duration_seconds_count") - agent_passes
                agent_spent = plat.metric("yun_agent_pass_duration_seconds_sum") - agent_spent
                row = {
                    "instances": size,
                    "to_running_s": to_running,
                    "server_cpu_pct": cpu * 100,
                    "server_rss_mib": rss_kib([pid]) / 1024,
                    "instance_pass_ms": 1000 * spent / passes if passes else float("nan"),
                    "agent_pass_ms": (
                        1000 * agent_spent / agent_passes if agent_passes else float("nan")
                    ),
                    "haproxy_rss_mib": rss_kib(tree(plat.haproxy_pid())) / 1024,
                }
                print(json.dumps(row), flush=True)
                rows.append(row)
            plat.api.scale(guid, "web", instances=1)
    return rows


# -- churn ------------------------------------------------------------------------------------


def wrk(url: str, host: str, seconds: float) -> tuple[float, float, int]:
    """p50 and p99 latency (ms) and non-2xx/3xx or socket errors of a wrk run."""
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{int(seconds)}s", "--latency", "-H", f"Host: {host}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return ms("50"), ms("99"), errors


def move(plat: Platform, guid: str, stop: threading.Event, every: float, moves: list[int]) -> None:
    """Scale between 2 and 20 instances every `every` seconds until `stop`."""
    while not stop.is_set():
        for count in (2, 20):
            plat.api.scale(guid, "web", instances=count)
            moves.append(count)
            if stop.wait(every):
                return


def churn_part(seconds: float) -> list[dict[str, float]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="yun-bench-scale-") as work_dir:
        work = Path(work_dir)
        with platform(work) as plat:
            guid = plat.push(work)
            host = f"{APP}.apps.localhost"
            plat.api.scale(guid, "web", instances=20)
            plat.wait_running(guid, 20)
            for mode in ("steady", "churn"):
                reloads = plat.metric("yun_router_reloads_total")
                stop = threading.Event()
                moves: list[int] = []
                mover = threading.Thread(target=move, args=(plat, guid, stop, seconds / 8, moves))
                if mode == "churn":
                    mover.start()
                p50, p99, errors = wrk(plat.router + "/", host, seconds)
                stop.set()
                if mode == "churn":
                    mover.join()
                    plat.api.scale(guid, "web", instances=20)
                    plat.wait_running(guid, 20)
                row = {
                    "mode": mode,
                    "p50_ms": p50,
                    "p99_ms": p99,
                    "errors": errors,
                    "scale_steps": len(moves),
                    "reloads_per_min": (plat.metric("yun_router_reloads_total") - reloads)
                    * 60
                    / seconds,
                }
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="routes,instances,churn")
    parser.add_argument("--routes", default="10,100,1000,5000")
    parser.add_argument("--instances", default="10,100,300,500")
    parser.add_argument("--quiet", type=float, default=60.0)
    parser.add_argument("--churn-seconds", type=float, default=60.0)
    args = parser.parse_args()
    parts = args.parts.split(",")
    if "routes" in parts:
        routes_part([int(n) for n in args.routes.split(",")])
    if "instances" in parts:
        instances_part([int(n) for n in args.instances.split(",")], args.quiet)
    if "churn" in parts:
        churn_part(args.churn_seconds)


if __name__ == "__main__":
    main()
