"""Fakes for the agent's unit tests: a clock moved by hand, a driver of pretend processes whose
health is a real loopback socket, and a listener that records what it hears.

The driver's `start` runs on the agent's start pool; `gate` holds starts inside it until the
test opens it, and the driver counts how many starts are inside at once, per slot too. Since
starts return in another thread, tests `settle`: run passes until what they wait for holds."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yun.agent import (
    Agent,
    ExitStatus,
    Handle,
    HealthCheckSpec,
    InstanceReport,
    InstanceSpec,
    InstanceState,
)
from yun.agent.drivers.base import handle_from_dict, handle_to_dict


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return 1_700_000_000.0 + self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class FakeProcess:
    pid: int
    spec: InstanceSpec
    env: dict[str, str]
    sock: socket.socket
    alive: bool = True
    code: int | None = None
    stopped_with_grace: float | None = None


class FakeDriver:
    name = "fake"

    def __init__(self) -> None:
        self.processes: dict[int, FakeProcess] = {}
        self.listen = True  # whether new processes open their port
        self.listens_elsewhere: set[int] = set()  # other ports every process listens on
        self.fail_start: str | None = None
        self.gate: threading.Event | None = None  # set: starts wait inside until it opens
        self.entered: list[str] = []  # slot of every start call, in order
        self.inside = 0  # starts under way now
        self.most_inside = 0
        self.most_inside_per_slot = 0
        self.swept_keeping: list[str] = []  # run dirs of the handles the last sweep kept
        self.credentials: list[Path | None] = []  # the identity folder of every start
        self._inside_per_slot: dict[str, int] = {}
        self._next_pid = 100
        self._lock = threading.Lock()

    # test controls
    def started(self) -> list[FakeProcess]:
        with self._lock:
            return list(self.processes.values())

    def running(self) -> list[FakeProcess]:
        return [p for p in self.started() if p.alive]

    def exit(self, pid: int, code: int) -> None:
        proc = self.processes[pid]
        proc.alive, proc.code = False, code
        proc.sock.close()

    def close_port(self, pid: int) -> None:
        self.processes[pid].sock.close()

    def close(self) -> None:
        for proc in self.started():
            proc.sock.close()

    # Driver
    def start(
        self,
        spec: InstanceSpec,
        *,
        run_dir: Path,
        env: Mapping[str, str],
        credentials: Path | None = None,
    ) -> Handle:
        with self._lock:
            self.entered.append(spec.slot)
            self.credentials.append(credentials)
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            here = self._inside_per_slot[spec.slot] = self._inside_per_slot.get(spec.slot, 0) + 1
            self.most_inside_per_slot = max(self.most_inside_per_slot, here)
        try:
            if self.gate is not None:
                assert self.gate.wait(10), "the test never opened the gate"
            return self._start(spec, run_dir=run_dir, env=env)
        finally:
            with self._lock:
                self.inside -= 1
                self._inside_per_slot[spec.slot] -= 1

    def _start(self, spec: InstanceSpec, *, run_dir: Path, env: Mapping[str, str]) -> Handle:
        if self.fail_start:
            raise RuntimeError(self.fail_start)
        run_dir.mkdir(parents=True)
        (run_dir / "out.log").touch()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        if self.listen:
            sock.listen()
        with self._lock:
            self._next_pid += 1
            pid = self._next_pid
            self.processes[pid] = FakeProcess(pid=pid, spec=spec, env=dict(env), sock=sock)
        return Handle(
            run_dir=run_dir,
            pid=pid,
            address="127.0.0.1",
            port=sock.getsockname()[1],
            logs={"OUT": run_dir / "out.log"},
        )

    def alive(self, handle: Handle) -> bool:
        return self.processes[handle.pid or 0].alive

    def exit_fd(self, handle: Handle) -> int | None:
        return None  # the agent asks `alive` every pass, as the tests' clock dictates

    def ready(self, handle: Handle) -> bool:
        return True

    def exit_status(self, handle: Handle) -> ExitStatus:
        code = self.processes[handle.pid or 0].code
        return ExitStatus(code, f"exited with {code}")

    def signal(self, handle: Handle, signum: int) -> None:
        pass

    def stop(self, handle: Handle, *, grace: float) -> None:
        proc = self.processes[handle.pid or 0]
        if proc.alive:
            proc.stopped_with_grace = grace
        proc.alive = False
        proc.sock.close()

    def remove(self, handle: Handle) -> None:
        shutil.rmtree(handle.run_dir, ignore_errors=True)

    def keep_staged(self, droplet: Path, *, tree: Path, root: Path) -> None:
        pass

    def listening_ports(self, handle: Handle) -> set[int]:
        if not self.processes[handle.pid or 0].alive:
            return set()
        own = {handle.port} if self.listen and handle.port else set()
        return own | self.listens_elsewhere

    def to_dict(self, handle: Handle) -> dict[str, Any]:
        return handle_to_dict(handle)

    def adopt(self, saved: Mapping[str, Any]) -> Handle | None:
        return handle_from_dict(saved)

    def sweep(self, keep: Sequence[Handle]) -> list[str]:
        self.swept_keeping = [h.run_dir.name for h in keep]
        return []


@dataclass
class Recorder:
    states: list[InstanceReport] = field(default_factory=list)
    crashes: list[InstanceReport] = field(default_factory=list)
    logs: list[tuple[str, str, str]] = field(default_factory=list)  # (slot, source, line)

    def on_state(self, report: InstanceReport) -> None:
        self.states.append(report)

    def on_crash(self, report: InstanceReport) -> None:
        self.crashes.append(report)

    def on_log(
        self, slot: str, instance_index: int, app_guid: str, source: str, line: str, ts: float
    ) -> None:
        self.logs.append((slot, source, line))


def make_spec(index: int = 0, **changes: Any) -> InstanceSpec:
    values: dict[str, Any] = {
        "slot": f"proc-1:{index}",
        "app_guid": "app-1",
        "app_name": "demo",
        "process_guid": "proc-1",
        "process_type": "web",
        "index": index,
        "droplet": Path("/blobs/droplet-1.tgz"),
        "command": "python3 server.py",
        "env": {"GREETING": "hello"},
        "memory_mb": 256,
        "disk_mb": 1024,
        "health": HealthCheckSpec(),
        "uris": ("demo.apps.localhost",),
        "space_name": "dev",
        "org_name": "acme",
    }
    values.update(changes)
    return InstanceSpec(**values)


def report(agent: Agent, slot: str = "proc-1:0") -> InstanceReport:
    (found,) = [r for r in agent.reports() if r.slot == slot]
    return found


def settle(agent: Agent, until: Callable[[], bool]) -> None:
    """Run passes until `until()`; starting and stopping happen in worker threads, so allow
    real time."""
    deadline = time.monotonic() + 5
    while not until():
        assert time.monotonic() < deadline, "agent did not settle"
        agent.supervise_once()
        time.sleep(0.01)


def settle_in(agent: Agent, state: InstanceState, slot: str = "proc-1:0") -> None:
    settle(agent, lambda: any(r.slot == slot and r.state is state for r in agent.reports()))


def started(agent: Agent, slot: str = "proc-1:0") -> bool:
    """Whether the slot's start returned: until then it is STARTING without a pid."""
    return any(r.slot == slot and r.pid is not None for r in agent.reports())


def all_running(agent: Agent, count: int) -> bool:
    reports = agent.reports()
    return len(reports) == count and all(r.state is InstanceState.RUNNING for r in reports)
