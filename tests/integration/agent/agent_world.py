"""Helpers of the agent's integration tests: droplet contents, a launcher with the builder's
contract, a recording listener, and an agent factory that knows what to clean up."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yun.agent import Agent, HealthCheckSpec, InstanceReport, InstanceSpec, ProcessDriver
from yun.agent.identity import Identities
from yun.settings import Timing

# Same contract as yun.builder's launcher.sh, written out so these tests do not depend on it.
LAUNCHER = r"""#!/usr/bin/env bash
cd "$HOME" || exit 70
for f in "$DEPS_DIR"/*/profile.d/*.sh "$HOME"/.profile.d/*.sh; do
  if [ -f "$f" ]; then . "$f"; fi
done
if [ -f "$HOME/.profile" ]; then . "$HOME/.profile"; fi
cd "$HOME" || exit 70
bash -c "$1"
status=$?
if [ -n "${YUN_EXIT_FILE:-}" ]; then echo "$status" > "$YUN_EXIT_FILE"; fi
exit "$status"
"""

SERVER = r"""
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

for n in range(1, int(os.environ.get("HELLO_LINES", "3")) + 1):
    print(f"hello {n}", flush=True)
print("starting up", file=sys.stderr, flush=True)

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/env":
            status, body = 200, json.dumps(dict(os.environ))
        elif self.path == "/health":
            status, body = int(os.environ.get("HEALTH_STATUS", "200")), "health"
        elif self.path == "/file":
            with open("migrated.txt") as f:
                status, body = 200, f.read()
        else:
            status, body = 200, "index " + os.environ["CF_INSTANCE_INDEX"]
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        print("request " + self.path, flush=True)

HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""

WORKER = r"""
import time
n = 0
while True:
    n += 1
    print(f"working {n}", flush=True)
    time.sleep(0.2)
"""

# An app that ignores $PORT: Python's own http.server on a free port of its choosing, which it
# names on stdout ("Serving HTTP on 127.0.0.1 port 45678 (http://…) ...").
LISTENS_ELSEWHERE = "python3 -u -m http.server 0 --bind 127.0.0.1"


def served_port(lines: list[str]) -> int | None:
    """The port the first `LISTENS_ELSEWHERE` app of these output lines said it serves on."""
    for line in lines:
        found = re.match(r"Serving HTTP on \S+ port (\d+)", line)
        if found:
            return int(found.group(1))
    return None


FAST = Timing(
    immediate_restarts=3,
    first_backoff=1.0,
    max_backoff=4.0,
    crash_reset_after=60.0,
    health_timeout=10.0,
    check_interval=0.1,
    stop_grace=2.0,
)


@dataclass
class Listener:
    """Records everything an agent reports; safe to read while the agent's threads write."""

    states: list[InstanceReport] = field(default_factory=list)
    crashes: list[tuple[float, InstanceReport]] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)  # (source, line)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_state(self, report: InstanceReport) -> None:
        with self.lock:
            self.states.append(report)

    def on_crash(self, report: InstanceReport) -> None:
        with self.lock:
            self.crashes.append((time.monotonic(), report))

    def on_log(
        self, slot: str, instance_index: int, app_guid: str, source: str, line: str, ts: float
    ) -> None:
        with self.lock:
            self.logs.append((source, line))

    def lines(self, source: str) -> list[str]:
        with self.lock:
            return [line for src, line in self.logs if src == source]

    def crash_reports(self) -> list[InstanceReport]:
        with self.lock:
            return [report for _, report in self.crashes]


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def running(agent: Agent, count: int) -> list[InstanceReport]:
    """Wait until `count` instances are RUNNING; they come back sorted by slot."""

    def check() -> list[InstanceReport] | None:
        reports = sorted(agent.reports(), key=lambda r: r.slot)
        ok = len(reports) == count and all(r.state == "RUNNING" for r in reports)
        return reports if ok else None

    result: list[InstanceReport] = wait_for(check)
    return result


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies do not count)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            text = Path(f"/proc/{entry}/stat").read_text()
            fields = text[text.rfind(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
    return False


def spec(droplet: Path, index: int = 0, **changes: Any) -> InstanceSpec:
    values: dict[str, Any] = {
        "slot": f"web-guid:{index}",
        "app_guid": "app-guid",
        "app_name": "demo",
        "process_guid": "web-guid",
        "process_type": "web",
        "index": index,
        "droplet": droplet,
        "command": "python3 server.py",
        "env": {"GREETING": "hello"},
        "memory_mb": 256,
        "disk_mb": 1024,
        "health": HealthCheckSpec(timeout=10),
        "uris": ("demo.apps.localhost",),
        "space_name": "dev",
        "org_name": "acme",
    }
    values.update(changes)
    return InstanceSpec(**values)


@dataclass
class Agents:
    """Makes agents over one instances root and cleans up after them, by process group."""

    root: Path
    launcher: Path
    made: list[tuple[Agent, Listener]] = field(default_factory=list)

    def new(
        self,
        *,
        timing: Timing = FAST,
        launcher: Path | None = None,
        identities: Identities | None = None,
    ) -> tuple[Agent, Listener]:
        listener = Listener()
        driver = ProcessDriver(launcher or self.launcher)
        agent = Agent(
            root=self.root, driver=driver, listener=listener, timing=timing, identities=identities
        )
        self.made.append((agent, listener))
        agent.start()
        return agent, listener

    def pgids(self) -> set[int]:
        return {r.pid for _, listener in self.made for r in listener.states if r.pid}
