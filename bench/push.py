"""Seconds from `yun push` to the first 200 of the pushed code through the router, for
examples/hello-python.

Runs a private `yun server` on free loopback ports and measures two pushes:
  cold  - a fresh platform: no blobs, no buildpack cache;
  warm  - the same app pushed again after a one-line change of its answer (cache and blobs
          reused; requirements unchanged, so the installed packages are reused);
each until the router answers with the pushed code's text (the old revision's answers do not
count), and, as a same-run baseline, doing it by hand: a fresh venv, `pip install -r
requirements.txt`, start `app.py`, first 200 (what the platform replaces). Each timed step
starts after the disk has settled (see `settle`).

With `--stack NAME` (repeatable; the runc driver, as root) each stack is measured in turn, the
app staged and run on it (`host`: the host's own /usr, no stack); stacks come from the shared
cache the tests use (built there first if missing). `--build-stack NAME` also times building
that stack from Debian's archive into a throwaway folder (its first use on a machine).

Usage: .venv/bin/python bench/push.py [--runs N] [--stack NAME ...] [--build-stack NAME]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from serving import YUN, free_port, running_server, server_env

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' shared stacks

from tests.stacks import built_stack, shared_stacks_dir  # noqa: E402

from yun.stacks import HOST, StackStore  # noqa: E402

# One client for every poll: `httpx.get` builds a client (and a TLS context) per call, ~20 ms
# of CPU that would compete with what is measured on a 2-core machine. A new connection each
# time, as a new visitor makes (a kept-alive one would stay with a router worker of before).
SETTLE = 5.0  # seconds of quiet before each timed step
POLL = httpx.Client(timeout=2, trust_env=False, headers={"Connection": "close"})


def wait_200(url: str, host: str | None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    headers = {"Host": host} if host else {}
    while time.monotonic() < deadline:
        try:
            if POLL.get(url, headers=headers).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"no 200 from {url} within {timeout}s")


def wait_text(url: str, host: str, text: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = POLL.get(url, headers={"Host": host})
            if response.status_code == 200 and text in response.text:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise SystemExit(f"{url} never answered {text!r} within {timeout}s")


def settle() -> None:
    """Let the disk catch up before a timed step: deleting the previous run's folders leaves
    ext4 (mounted with `discard` here) creating files ten times slower for seconds after, which
    would be charged to whichever step came next. Pushes and the baseline get the same pause."""
    os.sync()
    time.sleep(SETTLE)


def timed_push(env: dict[str, str], app_dir: Path, router_port: int, text: str) -> float:
    """Seconds from the start of `yun push` to the router's first answer with `text` (the
    push runs on in the background: a rolling deployment drains the old instance after)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as said:
        push = subprocess.Popen(
            [YUN, "push", "-p", str(app_dir)],
            env=env,
            stdout=said,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            wait_text(f"http://127.0.0.1:{router_port}/", "hello-python.apps.localhost", text)
            return time.perf_counter() - start
        finally:
            if push.wait(300) != 0:
                said.seek(0)
                tail = said.read().decode(errors="replace").splitlines()[-15:]
                raise SystemExit("yun push failed:\n" + "\n".join(tail))


def by_hand(app_dir: Path, work: Path) -> float:
    venv = work / "venv"
    port = free_port()
    start = time.perf_counter()
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "-r", str(app_dir / "requirements.txt")],
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        [str(venv / "bin" / "python"), "app.py"],
        cwd=app_dir,
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_200(f"http://127.0.0.1:{port}/", None)
        return time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(10)


def one_run(work: Path, stack: str | None) -> tuple[float, float, float]:
    app_dir = work / "hello-python"
    shutil.copytree(ROOT / "examples" / "hello-python", app_dir)
    env = server_env(work, YUN_DRIVER=os.environ.get("YUN_DRIVER", "process"))
    router_port = int(env["YUN_ROUTER_PORT"])  # HTTP is what is measured: no HTTPS
    if stack is not None:
        env.update({"YUN_DRIVER": "runc", "YUN_STACK": stack})
        env["YUN_STACKS_DIR"] = str(shared_stacks_dir())
    with running_server(env) as url:
        subprocess.run(
            [YUN, "login", "-a", url, "-p", "bench-password"],
            env=env,
            check=True,
            capture_output=True,
        )
        settle()
        cold = timed_push(env, app_dir, router_port, "Hello from Yun!")
        code = (app_dir / "app.py").read_text()
        (app_dir / "app.py").write_text(code.replace("Hello from Yun!", "Hello again!"))
        settle()
        warm = timed_push(env, app_dir, router_port, "Hello again!")
    settle()
    hand = by_hand(app_dir, work)
    return cold, warm, hand


def build_time(name: str) -> float:
    """Seconds to build the stack `name` from Debian's archive into a throwaway folder."""
    with tempfile.TemporaryDirectory(prefix="yun-bench-stack-", dir="/var/tmp") as folder:
        start = time.perf_counter()
        StackStore(Path(folder)).ensure(name, output=lambda _line: None)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stack", action="append", default=[], metavar="NAME")
    parser.add_argument("--build-stack", metavar="NAME")
    args = parser.parse_args()
    for name in args.stack:
        if name != HOST:
            built_stack(name)  # from the shared cache: a first build is not a push
    print(f"runs: {args.runs} (medians; the stacks take turns within each run)")
    stacks: list[str | None] = list(args.stack) or [None]
    results: dict[str | None, list[tuple[float, float, float]]] = {s: [] for s in stacks}
    for _ in range(args.runs):
        for stack in stacks:
            with tempfile.TemporaryDirectory(prefix="yun-bench-push-") as work:
                results[stack].append(one_run(Path(work), stack))
    for stack, measured in results.items():
        cold = statistics.median(r[0] for r in measured)
        warm = statistics.median(r[1] for r in measured)
        hand = statistics.median(r[2] for r in measured)
        where = f"stack {stack} (runc)" if stack else f"{os.environ.get('YUN_DRIVER', 'process')}"
        print(f"== {where}")
        print(f"cold push -> first 200:      {cold:6.2f} s")
        print(f"warm push -> first 200:      {warm:6.2f} s")
        print(f"by hand (venv+pip+start):    {hand:6.2f} s")
        print(f"warm push / by hand:         {warm / hand:6.2f}x   (target <= 0.3x)")
    if HOST in results and len(results) > 1:
        host_warm = statistics.median(r[1] for r in results[HOST])
        for stack, measured in results.items():
            if stack not in (HOST, None):
                warm = statistics.median(r[1] for r in measured)
                ratio = warm / host_warm
                print(f"warm push on {stack} / on host: {ratio:5.2f}x   (target <= 1.1x)")
    if args.build_stack:
        seconds = build_time(args.build_stack)
        print(f"== building stack {args.build_stack}: {seconds:6.1f} s   (target <= 180 s)")


if __name__ == "__main__":
    main()
