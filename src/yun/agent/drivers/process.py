"""The process driver: an instance is a host process group started from an extracted droplet.

Works anywhere without root. Each run gets a fresh directory `<root>/<instance_guid>/` holding the
droplet (`app/`, `deps/`), a `tmp/`, the output files and the launcher's exit-status file. The
instance runs in its own session (so it outlives `yun server`) with stdout and stderr going to
files, never pipes: the agent may die and a new one must be able to keep reading.

Liveness comes from a pidfd of each leader while it runs (one poll a pass, no file read), and
once it has exited, exit status from `waitpid` for our own children and from `/proc` for instances
adopted from an earlier agent; `/proc/<pid>/stat`'s start time, recorded at spawn, tells a pid
reused by an unrelated process from ours. Stopping signals the whole process group, so a child
of the launcher never survives to hold the port.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yun import archives
from yun.agent.drivers.base import ExitStatus, Handle, Usage, handle_from_dict, handle_to_dict
from yun.agent.drivers.listeners import ports_of_processes
from yun.agent.drivers.usage import PAGE_SIZE, disk_usage
from yun.agent.env import credentials_environment, placement_environment
from yun.agent.specs import InstanceSpec
from yun.harbor import harbor_environment
from yun.runtimes import DEFAULT_RUNTIME

STDOUT = "stdout.log"
STDERR = "stderr.log"
EXIT_FILE = "exit-status"
HOOKS_DONE = "hooks-done"
HOOK_FAILED = "hook-failed"
STOP_POLL = 0.02

# Runs the Stackato pre-running hooks, then the command, inside the launcher (so after the
# profile scripts, in HOME, with the app's environment). Hooks and command come in through the
# environment, so nothing is pasted into shell text. Markers tell the driver how far it got.
HOOK_RUNNER = r"""
i=0
while name="YUN_PRE_RUNNING_$i"; [ -n "${!name+x}" ]; do
  hook=${!name}
  unset "$name"
  bash -c "$hook" || { status=$?; : > "$YUN_RUN_DIR/hook-failed"; exit "$status"; }
  i=$((i + 1))
done
: > "$YUN_RUN_DIR/hooks-done"
command=$YUN_COMMAND
unset YUN_COMMAND YUN_RUN_DIR
exec bash -c "$command"
"""


@dataclass(frozen=True)
class _Stat:
    state: str
    pgrp: int
    starttime: int
    cpu_ticks: int  # utime + stime, and of children it waited for
    rss_pages: int  # resident pages, as statm would say


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _read_stat(pid: int) -> _Stat | None:
    """/proc/PID/stat, read with bare system calls: a pass over /proc reads a thousand of
    them, and a Path's read_text costs three times as much."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    fields = data[data.rfind(b")") + 2 :].split()  # comm may hold spaces and parentheses
    if len(fields) < 22:
        return None
    ticks = sum(int(value) for value in fields[11:15])
    return _Stat(
        state=fields[0].decode(),
        pgrp=int(fields[2]),
        starttime=int(fields[19]),
        cpu_ticks=ticks,
        rss_pages=int(fields[21]),
    )


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, as /proc says now."""
    return [pid for pid, _ in _scan_groups().get(pgid, [])]


def _scan_groups() -> dict[int, list[tuple[int, _Stat]]]:
    """Every live process of the machine, by process group: one pass over /proc."""
    groups: dict[int, list[tuple[int, _Stat]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _read_stat(int(entry))
            if stat is not None and stat.state not in ("Z", "X"):
                groups.setdefault(stat.pgrp, []).append((int(entry), stat))
    return groups


class _RecentGroups:
    """`_scan_groups`, taken at most every `max_age` seconds: the metrics sampler asks about
    every instance in turn, and one pass over /proc answers them all (a pass per instance
    made an idle server with 100 instances spend a fifth of a core reading /proc)."""

    max_age = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken = -math.inf
        self._groups: dict[int, list[tuple[int, _Stat]]] = {}
        self._pids: dict[int, _Stat] = {}

    def members(self, pgid: int) -> list[tuple[int, _Stat]]:
        with self._lock:
            self._refresh()
            return self._groups.get(pgid, [])

    def stat(self, pid: int) -> _Stat | None:
        """The live process `pid` as the last pass saw it."""
        with self._lock:
            self._refresh()
            return self._pids.get(pid)

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._taken > self.max_age:
            self._groups, self._taken = _scan_groups(), now
            self._pids = {pid: stat for found in self._groups.values() for pid, stat in found}


def _exited(pidfd: int) -> bool:
    """Whether the process of `pidfd` has exited (a zombie has): its pidfd is then readable."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


def _describe(code: int) -> str:
    if code > 128:
        with contextlib.suppress(ValueError):
            return f"exited with {code} ({signal.Signals(code - 128).name})"
    return f"exited with {code}"


class ProcessDriver:
    name = "process"

    def __init__(self, launcher: Path, *, bind: str = "127.0.0.1") -> None:
        self.launcher = Path(launcher).absolute()
        self.bind = bind
        self._bash = "/bin/bash" if Path("/bin/bash").exists() else (shutil.which("bash") or "bash")
        self._lock = threading.Lock()
        self._statuses: dict[tuple[int, int], int] = {}  # (pid, starttime) -> waitpid status
        self._pidfds: dict[tuple[int, int], int] = {}  # (pid, starttime) -> its pidfd
        self._ports: dict[int, Path] = {}  # ports handed out and not yet released
        self._recent = _RecentGroups()  # for usage and CPU reads, which may be a second old

    # -- starting ---------------------------------------------------------------------------

    def start(
        self,
        spec: InstanceSpec,
        *,
        run_dir: Path,
        env: Mapping[str, str],
        credentials: Path | None = None,
    ) -> Handle:
        if spec.image is not None:
            raise ValueError("docker images run only in containers (the runc driver)")
        if spec.runtime != DEFAULT_RUNTIME:
            raise ValueError(f"runtime {spec.runtime} runs only in containers (the runc driver)")
        run_dir.mkdir(parents=True)
        app_dir, deps_dir, tmp_dir = run_dir / "app", run_dir / "deps", run_dir / "tmp"
        archives.extract_file(spec.droplet, run_dir)  # refuses paths outside run_dir
        for directory in (app_dir, deps_dir, tmp_dir):
            directory.mkdir(exist_ok=True)
        port = self._free_port(run_dir)
        ports: dict[str, int] = {}
        try:
            for name in spec.ports:
                ports[name] = self._free_port(run_dir)
        except RuntimeError:
            self._release_ports([port, *ports.values()], run_dir)
            raise
        full_env = dict(env)
        full_env.update(
            placement_environment(
                home=app_dir, deps_dir=deps_dir, tmpdir=tmp_dir, ip=self.bind, port=port
            )
        )
        full_env.update(harbor_environment(ports))
        full_env.update(credentials_environment(credentials))
        full_env["YUN_EXIT_FILE"] = str(run_dir / EXIT_FILE)
        command = spec.command
        if spec.pre_running:
            command = HOOK_RUNNER
            full_env["YUN_COMMAND"] = spec.command
            full_env["YUN_RUN_DIR"] = str(run_dir)
            for number, hook in enumerate(spec.pre_running):
                full_env[f"YUN_PRE_RUNNING_{number}"] = hook
        logs = {"OUT": run_dir / STDOUT, "ERR": run_dir / STDERR}
        try:
            pid = self._spawn(command, full_env, logs)
        except OSError:
            self._release_ports([port, *ports.values()], run_dir)
            raise
        stat = _read_stat(pid)  # the unreaped child is at least a zombie, so this exists
        starttime = stat.starttime if stat is not None else 0
        return Handle(
            run_dir=run_dir,
            pid=pid,
            address=self.bind,
            port=port,
            logs=logs,
            data={"starttime": starttime, "pgid": pid, "hooks": bool(spec.pre_running)},
            ports=ports,
        )

    def _spawn(self, command: str, env: Mapping[str, str], logs: Mapping[str, Path]) -> int:
        out_flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        return os.posix_spawn(
            self._bash,
            [self._bash, str(self.launcher), command],
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, str(logs["OUT"]), out_flags, 0o640),
                (os.POSIX_SPAWN_OPEN, 2, str(logs["ERR"]), out_flags, 0o640),
            ],
            setsid=True,  # its own session and process group: survives us, stops as a whole
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),  # Python ignores these; apps must not
        )

    def _free_port(self, run_dir: Path) -> int:
        """A port nothing listens on now and that this driver has not handed out already."""
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((self.bind, 0))
                port = int(probe.getsockname()[1])
            with self._lock:
                if port not in self._ports:
                    self._ports[port] = run_dir
                    return port
        raise RuntimeError("no free port found")

    def _release_ports(self, ports: Sequence[int | None], run_dir: Path) -> None:
        with self._lock:
            for port in ports:
                if port is not None and self._ports.get(port) == run_dir:
                    del self._ports[port]

    # -- watching ---------------------------------------------------------------------------

    def alive(self, handle: Handle) -> bool:
        if handle.pid is None:
            return False
        pid, starttime = handle.pid, int(handle.data.get("starttime", 0))
        key = (pid, starttime)
        with self._lock:
            if key in self._statuses:
                return False
            pidfd = self._pidfd(key)
            if pidfd is not None and not _exited(pidfd):
                return True  # one poll of the pidfd: no /proc read while it runs
            stat = _read_stat(pid)
            if stat is None or stat.starttime != starttime:
                self._close_pidfd(key)
                return False  # gone, or the pid now belongs to someone else
            try:
                reaped, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                reaped = 0  # not our child (adopted): /proc is all we have
            if reaped == pid:
                self._statuses[key] = status
                self._close_pidfd(key)
                return False
        return stat.state not in ("Z", "X")

    def exit_fd(self, handle: Handle) -> int | None:
        """The leader's pidfd: readable once it exited."""
        if handle.pid is None:
            return None
        with self._lock:
            return self._pidfd((handle.pid, int(handle.data.get("starttime", 0))))

    def _pidfd(self, key: tuple[int, int]) -> int | None:
        """A pidfd of the instance's leader, opened on first use (after checking the pid is
        still the one started then); None where the kernel has none, or the leader is gone."""
        if key in self._pidfds:
            return self._pidfds[key]
        if not hasattr(os, "pidfd_open"):
            return None
        try:
            pidfd = os.pidfd_open(key[0])
        except OSError:
            return None
        stat = _read_stat(key[0])
        if stat is None or stat.starttime != key[1]:
            os.close(pidfd)
            return None
        self._pidfds[key] = pidfd
        return pidfd

    def _close_pidfd(self, key: tuple[int, int]) -> None:
        pidfd = self._pidfds.pop(key, None)
        if pidfd is not None:
            os.close(pidfd)

    def ready(self, handle: Handle) -> bool:
        return not handle.data.get("hooks") or (handle.run_dir / HOOKS_DONE).exists()

    def exit_status(self, handle: Handle) -> ExitStatus:
        code: int | None = None
        key = (handle.pid or 0, int(handle.data.get("starttime", 0)))
        with self._lock:
            status = self._statuses.get(key)
        if status is not None:
            code = os.waitstatus_to_exitcode(status)
            if code < 0:
                code = 128 - code  # killed by signal N: report it as a shell would, 128 + N
        else:
            with contextlib.suppress(OSError, ValueError):
                code = int((handle.run_dir / EXIT_FILE).read_text().strip())
        if (handle.run_dir / HOOK_FAILED).exists():
            return ExitStatus(code, "pre-running hook failed")
        if code is None:
            return ExitStatus(None, "exited (status unknown)")
        return ExitStatus(code, _describe(code))

    def usage(self, handle: Handle, *, disk: bool = True) -> Usage | None:
        """Resident memory of the instance's process group (what `stop` would end) and the disk
        its writable dirs (`app`, `deps`, `tmp`) take. Shared pages count once per process."""
        if handle.pid is None or not self._group_is_ours(handle, self._recent.stat):
            return None
        pgid = int(handle.data.get("pgid", handle.pid))
        memory = sum(stat.rss_pages for _, stat in self._recent.members(pgid)) * PAGE_SIZE
        if not disk:
            return Usage(memory_bytes=memory, disk_bytes=None)
        used = disk_usage(handle.run_dir / name for name in ("app", "deps", "tmp"))
        return Usage(memory_bytes=memory, disk_bytes=used)

    def cpu_seconds(self, handle: Handle) -> float | None:
        """CPU time of the instance's live process group."""
        if handle.pid is None or not self._group_is_ours(handle, self._recent.stat):
            return None
        pgid = int(handle.data.get("pgid", handle.pid))
        return sum(stat.cpu_ticks for _, stat in self._recent.members(pgid)) / CLOCK_TICKS

    def keep_staged(self, droplet: Path, *, tree: Path, root: Path) -> None:
        """Nothing: each start unpacks the droplet into the instance's own folder."""

    def listening_ports(self, handle: Handle) -> set[int]:
        """TCP ports the sockets of the instance's live process group listen on."""
        if handle.pid is None or not self._group_is_ours(handle):
            return set()
        return ports_of_processes(_group_members(int(handle.data.get("pgid", handle.pid))))

    # -- stopping ---------------------------------------------------------------------------

    def signal(self, handle: Handle, signum: int) -> None:
        """Signal the instance's whole process group (the leader may already be gone)."""
        if handle.pid is None or not self._group_is_ours(handle):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(int(handle.data.get("pgid", handle.pid)), signum)

    def stop(self, handle: Handle, *, grace: float) -> None:
        if handle.pid is None or not self._group_is_ours(handle):
            return
        pgid = int(handle.data.get("pgid", handle.pid))
        if self.alive(handle) or _group_members(pgid):
            self.signal(handle, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                leader = self.alive(handle)  # also reaps our own child
                if not leader and not _group_members(pgid):
                    break
                time.sleep(STOP_POLL)
        self.signal(handle, signal.SIGKILL)
        deadline = time.monotonic() + 2.0
        while (self.alive(handle) or _group_members(pgid)) and time.monotonic() < deadline:
            time.sleep(STOP_POLL)

    def _group_is_ours(
        self, handle: Handle, stat_of: Callable[[int], _Stat | None] = _read_stat
    ) -> bool:
        """False when the leader's pid now leads someone else's group, which the kernel allows
        only once every process of our group is gone. `stat_of` may be a recent pass's."""
        stat = stat_of(handle.pid or 0)
        if stat is None or stat.starttime == int(handle.data.get("starttime", 0)):
            return True
        return stat.pgrp != int(handle.data.get("pgid", handle.pid))

    def remove(self, handle: Handle) -> None:
        shutil.rmtree(handle.run_dir, ignore_errors=True)
        self._release_ports([handle.port, *handle.ports.values()], handle.run_dir)
        key = (handle.pid or 0, int(handle.data.get("starttime", 0)))
        with self._lock:
            self._statuses.pop(key, None)
            self._close_pidfd(key)

    # -- persistence ------------------------------------------------------------------------

    def to_dict(self, handle: Handle) -> dict[str, Any]:
        return handle_to_dict(handle)

    def sweep(self, keep: Sequence[Handle]) -> list[str]:
        """Host processes leave nothing a later agent could find without their state."""
        return []

    def adopt(self, saved: Mapping[str, Any]) -> Handle | None:
        try:
            handle = handle_from_dict(saved)
        except (KeyError, TypeError, ValueError):
            return None
        if handle.pid is None or "starttime" not in handle.data or not handle.run_dir.is_dir():
            return None
        with self._lock:
            for port in (handle.port, *handle.ports.values()):
                if port is not None:
                    self._ports[port] = handle.run_dir
        return handle
