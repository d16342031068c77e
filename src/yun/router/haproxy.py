"""Run one master-worker HAProxy and change its configuration without dropping a connection.

Everything about the running HAProxy lives in `run_dir` (config, pidfile, master CLI socket,
stats socket) and in the running worker, which a new `HAProxy` object reads back (`show servers
state`, `show map`, `show table`). The control plane may restart at any time while HAProxy
keeps serving; a new object on the same `run_dir` adopts the running process through the
pidfile and changes it like its own.

A change goes: render against what the worker serves → if the layout (the config with every
server slot empty, `yun.router.slots`) is the one loaded, send the difference through the
runtime API and rewrite the maps for the next reload; else write the maps → check with
`haproxy -c` → atomic rename → `reload` on the master CLI. The master re-executes itself, takes
the listening sockets over from the old worker (stats socket with `expose-fd listeners`) and
starts a new worker; the old worker stops accepting, finishes what it is serving and answers
one last request on each kept-alive connection with `Connection: close` (so clients never write
into a connection being closed). `apply` returns once the old workers have stopped accepting,
so new connections see the new routes. If the master still rejects the file (say, a port taken
meanwhile), the previous file is put back: the old worker never stopped serving.

Processes are found by pid only (pidfile, /proc), never by name, so several Yun servers or
tests can run their own HAProxy side by side.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from yun.router import runtime, slots
from yun.router.config import (
    CERT_PREFIX,
    CHALLENGE_MAP_PREFIX,
    HOST_MAP,
    JWT_CACHE_PREFIX,
    JWT_PREFIX,
    KEYS_TABLE_PREFIX,
    PEERS_SOCKET,
    STATS_SOCKET,
    TCP_PROXY_PREFIX,
    layout_of,
    render_files,
)
from yun.router.control import ProcessTable, parse_show_proc, send_command
from yun.router.errors import ReloadHeld, RouterConfigError, RouterError
from yun.router.routes import KeyLimits, Route, RouterConfig, Server, TcpRoute
from yun.router.slots import RuntimeState
from yun.router.stats import read_stats
from yun.tls import Certificate

CONFIG_FILE = "haproxy.cfg"
_JWT_CACHES = re.compile(rf"set-map\('([^']*/{JWT_CACHE_PREFIX}[^']*\.map)'\)")
PID_FILE = "haproxy.pid"
MASTER_SOCKET = "master.sock"
LOCK_FILE = "router.lock"

_UNIX_PATH_MAX = 107

log = logging.getLogger(__name__)


def _process_state(pid: int) -> str | None:
    """The /proc state letter of `pid`, or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[0]


def _alive(pid: int) -> bool:
    # Zombies count as gone: a daemonised master is reparented to init, which may never reap it.
    return _process_state(pid) not in (None, "Z", "X")


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == parent:
            found.append(int(entry.name))
    return found


def _wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def _alerts(output: str) -> str:
    """HAProxy's ALERT/WARNING lines, without the version banner it prints first."""
    lines = [line for line in output.splitlines() if "[NOTICE]" not in line]
    return "\n".join(lines).strip() or output.strip()


def _write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text`, readable by this user alone (certificates hold keys)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class HAProxy:
    """Manager of one master-worker HAProxy whose state lives in `config.run_dir`."""

    start_timeout = 10.0
    reload_timeout = 30.0
    stop_timeout = 10.0

    def __init__(self, config: RouterConfig, *, binary: str = "haproxy") -> None:
        run_dir = Path(config.run_dir).absolute()
        self.config = replace(config, run_dir=run_dir)
        self.binary = binary
        self.config_path = run_dir / CONFIG_FILE
        self.pid_path = run_dir / PID_FILE
        self.master_socket = run_dir / MASTER_SOCKET
        self.stats_socket = run_dir / STATS_SOCKET
        for sock in (self.master_socket, self.stats_socket, run_dir / PEERS_SOCKET):
            if len(str(sock).encode()) > _UNIX_PATH_MAX:
                raise ValueError(f"run_dir {run_dir} is too long for a UNIX socket path")
        if "," in str(self.master_socket):
            raise ValueError(f"run_dir {run_dir} must not contain ','")
        self.host_map = run_dir / HOST_MAP
        # What the running worker serves, as this object last changed it; None until this
        # object has started HAProxy or read it back from a running one.
        self._state: RuntimeState | None = None
        # Per slot: whose responses its counters hold, and the counts before that server had it.
        self._counted: dict[tuple[str, str], tuple[str, int, int]] = {}
        self._layout: tuple[str, str] | None = None  # the config text last read, its layout
        self.reloads = 0  # by this object: starts and reloads
        self.runtime_changes = 0  # runtime API commands this object sent

    # -- queries ---------------------------------------------------------------------------

    def pid(self) -> int | None:
        """The master's pid if the pidfile names a live HAProxy running our config."""
        try:
            pid = int(self.pid_path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        if not _alive(pid):
            return None
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        # Guard against pid reuse after a reboot or crash: it must be *our* HAProxy.
        if str(self.config_path).encode() not in argv:
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    def processes(self) -> ProcessTable:
        """`show proc` from the master CLI."""
        return parse_show_proc(send_command(self.master_socket, "show proc"))

    def stats(self, *, backends_only: bool = False) -> list[dict[str, str]]:
        """`show stat` rows, one dict per frontend, backend and server (or per backend only)."""
        try:
            return read_stats(self.stats_socket, backends_only=backends_only)
        except OSError as exc:
            raise RouterError(f"HAProxy stats socket {self.stats_socket}: {exc}") from exc

    def clear_jwt_caches(self) -> int:
        """Empty the running worker's caches of verified tokens (`config._jwt`), so they hold
        only tokens seen since; returns how many were cleared."""
        try:
            text = self.config_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return 0
        caches = sorted(set(_JWT_CACHES.findall(text)))
        if caches and self.running():
            runtime.run(self.stats_socket, [f"clear map {path}" for path in caches])
        return len(caches)

    def key_counts(self, scope: str) -> dict[str, int]:
        """What the API keys of a route (by its scope) used: `<digest>/r/<window>` and
        `<digest>/q/<window>` (the window's number since the epoch) → requests counted."""
        return runtime.read_counters(self.stats_socket, f"{KEYS_TABLE_PREFIX}{scope}")

    def backend_stats(self) -> list[dict[str, str]]:
        """`show stat` rows of the backends alone (svname BACKEND)."""
        return self.stats(backends_only=True)

    def response_counts(self) -> dict[str, tuple[int, int]]:
        """Per server, by the name Yun gave it: (responses, of which 5xx) since it took its
        slot (or the running worker started). Empty when HAProxy cannot be asked.

        A slot's counters are HAProxy's and outlive the servers that pass through it: the counts
        a slot had when it is first read under a new server are that server's zero. Responses
        given between taking the slot and that read are not counted."""
        state = self._state
        try:
            rows = self.stats()
        except RouterError:
            return {}
        counts: dict[str, tuple[int, int]] = {}
        for row in rows:
            proxy, slot = str(row.get("pxname", "")), str(row.get("svname", ""))
            if slot in ("", "FRONTEND", "BACKEND") or proxy.startswith(TCP_PROXY_PREFIX):
                continue  # TCP: connections, not responses: they must not hide an HTTP server's
            server = _slot_server(state, proxy, slot)
            if server is None:
                continue
            classes = [int(row.get(f"hrsp_{n}xx") or 0) for n in range(1, 6)]
            total, errors = sum(classes), classes[4]
            owner, base_total, base_errors = self._counted.get((proxy, slot), (server.name, 0, 0))
            if owner != server.name:
                owner, base_total, base_errors = server.name, total, errors
            self._counted[(proxy, slot)] = (owner, base_total, base_errors)
            counts[server.name] = (total - base_total, errors - base_errors)
        return counts

    # -- changes ---------------------------------------------------------------------------

    def apply(
        self,
        routes: Sequence[Route],
        *,
        tcp_routes: Sequence[TcpRoute] = (),
        certificates: Sequence[Certificate] = (),
        challenges: Mapping[str, str] | None = None,
        api_keys: Mapping[str, KeyLimits] | None = None,
        reload: bool = True,
    ) -> bool:
        """Make HAProxy serve `routes` and `tcp_routes` (and, with an HTTPS port, HTTPS with
        `certificates`; answer ACME's HTTP-01 `challenges`; and take the `api_keys` of routes
        that ask for keys: `key_entry(scope, digest)` → limits). True if that took a reload
        (or a start); False if it served them already or the runtime API made the change.
        With `reload` False, a change that needs a reload raises ReloadHeld and changes
        nothing (the caller batches). See the module docstring."""
        with self._locked():
            running = self.running()
            try:
                previous: str | None = self.config_path.read_text(encoding="utf-8")
            except FileNotFoundError:
                previous = None
            state = self._current_state() if running and previous is not None else None
            rendered = render_files(
                self.config,
                routes,
                tcp_routes=tcp_routes,
                certificates=certificates,
                challenges=challenges,
                previous=state,
                api_keys=api_keys,
            )
            same_layout = previous is not None and self._layout_of(previous) == rendered.layout
            if (
                state is not None
                and same_layout
                and self._change_at_runtime(state, rendered.runtime)
            ):
                self._write_files(rendered.files)
                return False
            if running and not reload:
                raise ReloadHeld("the change needs a reload")
            kept = self._write_files(rendered.files)
            try:
                self._install(rendered.text)
                if running:
                    self._reload(previous)
                else:
                    self._start()
            except BaseException:
                self._write_files(kept)  # the maps the running worker loaded, for its next reload
                self._prune_files(previous or "")
                self._state = None  # read back from the worker that kept serving
                raise
            self.reloads += 1
            self._state = rendered.runtime
            self._counted.clear()
            self._prune_files(rendered.text)
            # A new worker starts with an empty targets table.
            try:
                runtime.run(self.stats_socket, slots.target_commands({}, rendered.runtime.targets))
            except RouterError as exc:
                log.warning("router: %s; the next pass sends the instance targets again", exc)
                rendered.runtime.targets.clear()
            return True

    def _layout_of(self, text: str) -> str:
        """`config.layout_of(text)`, kept for the text last seen: the config file changes only
        on reloads, and every pass compares against it."""
        if self._layout is None or self._layout[0] != text:
            self._layout = (text, layout_of(text))
        return self._layout[1]

    def _current_state(self) -> RuntimeState | None:
        """What the running worker serves: as this object left it, else read back from it
        (None if it cannot be read; a reload then rebuilds everything)."""
        if self._state is None:
            try:
                self._state = runtime.read_state(
                    self.stats_socket, self.host_map, self.config.run_dir / slots.KEY_MAP
                )
            except RouterError as exc:
                log.warning("router: could not read what HAProxy serves (%s); reloading", exc)
                return None
        return self._state

    def _change_at_runtime(self, before: RuntimeState, after: RuntimeState) -> bool:
        """Turn `before` into `after` through the runtime API; False if HAProxy refused (the
        caller reloads)."""
        instances = self.config.run_dir / slots.INSTANCE_MAP
        commands = slots.commands(
            before,
            after,
            str(self.host_map),
            str(instances) if self.config.access_log else None,
            str(self.config.run_dir / slots.KEY_MAP),
        )
        try:
            runtime.run(self.stats_socket, commands)
        except RouterError as exc:
            log.warning("router: %s; reloading instead", exc)
            self._state = None
            return False
        self.runtime_changes += len(commands)
        self._state = after
        return True

    def stop(self) -> None:
        """Stop the master and every worker (old ones included) and wait until they are gone."""
        with self._locked():
            master = self.pid()
            if master is not None:
                pids = {master, *_children(master)}
                with contextlib.suppress(ProcessLookupError):
                    os.kill(master, signal.SIGTERM)  # the master relays it to every worker
                if not _wait_until(lambda: not any(map(_alive, pids)), self.stop_timeout):
                    for pid in filter(_alive, pids):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    _wait_until(lambda: not any(map(_alive, pids)), self.stop_timeout)
            for path in (self.pid_path, self.master_socket, self.stats_socket):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            self._state = None

    # -- internals -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise changes across threads and processes sharing this run_dir."""
        self.config.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.config.run_dir / LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write_files(self, files: Mapping[str, str]) -> dict[str, str]:
        """Write the files the config names: the maps whenever they changed (HAProxy read
        them at start; since then they are changed at run time, and the files are for the next
        reload), the others once (their names are content hashes). Returns the maps' previous
        contents."""
        replaced = {}
        for name, content in files.items():
            path = self.config.run_dir / name
            if name in (HOST_MAP, slots.INSTANCE_MAP, slots.KEY_MAP):
                with contextlib.suppress(FileNotFoundError):
                    replaced[name] = path.read_text(encoding="utf-8")
                if replaced.get(name) == content:
                    continue
            elif path.exists():
                continue
            _write_atomically(path, content)
        return replaced

    def _prune_files(self, keep_text: str) -> None:
        """Delete host maps, JWT keys and certificate lists `keep_text` does not name, and
        certificates no kept list names (draining workers hold theirs in memory)."""
        maps = self.config.run_dir.glob(f"{CHALLENGE_MAP_PREFIX}*.map")
        for path in maps:
            if path.name not in keep_text:
                path.unlink(missing_ok=True)
        lists = self.config.run_dir.glob(f"{CERT_PREFIX}*.list")
        named = keep_text + "".join(p.read_text() for p in lists if p.name in keep_text)
        for path in self.config.run_dir.glob(f"{CERT_PREFIX}*"):
            if path.name not in named:
                path.unlink(missing_ok=True)
        for pattern in (
            f"{JWT_PREFIX}*.pem",
            f"{JWT_CACHE_PREFIX}*.map",
            f"{slots.KEY_CACHE_PREFIX}*.map",
        ):
            for path in self.config.run_dir.glob(pattern):
                if path.name not in keep_text:
                    path.unlink(missing_ok=True)

    def _install(self, text: str) -> None:
        """Check `text` with `haproxy -c`, then atomically make it the config file."""
        candidate = self.config_path.with_name(CONFIG_FILE + ".new")
        _write_atomically(candidate, text)
        try:
            check = subprocess.run(
                [self.binary, "-c", "-f", str(candidate)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            candidate.unlink(missing_ok=True)
            raise RouterError(f"could not run {self.binary} -c: {exc}") from exc
        if check.returncode != 0:
            candidate.unlink(missing_ok=True)
            raise RouterConfigError(
                f"HAProxy rejected the configuration:\n{_alerts(check.stderr + check.stdout)}"
            )
        os.replace(candidate, self.config_path)

    def _start(self) -> None:
        argv = [
            self.binary,
            "-W",
            "-D",
            "-p",
            str(self.pid_path),
            "-S",
            f"{self.master_socket},mode,600",
            "-f",
            str(self.config_path),
        ]
        try:
            launched = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self.start_timeout,
                cwd=self.config.run_dir,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RouterError(f"could not start {self.binary}: {exc}") from exc
        if launched.returncode != 0:
            raise RouterError(f"HAProxy failed to start:\n{_alerts(launched.stderr)}")
        if not _wait_until(self._has_worker, self.start_timeout):
            raise RouterError(f"HAProxy started but no worker came up:\n{_alerts(launched.stderr)}")

    def _has_worker(self) -> bool:
        if not self.running():
            return False
        try:
            return bool(self.processes().workers)
        except (OSError, ValueError):
            return False

    def _reload(self, previous: str | None) -> None:
        before = self.processes()
        with contextlib.suppress(OSError):  # the master drops the connection as it re-executes
            send_command(self.master_socket, "reload")
        after = self._await_reload(before)
        if after.failed_reloads > before.failed_reloads:
            if previous is not None:
                _write_atomically(self.config_path, previous)
            raise RouterConfigError(
                "HAProxy's master could not load the new configuration, although `haproxy -c`"
                f" accepted it: most likely {self.config.bind}:{self.config.port} or the port of"
                " a TCP route cannot be bound. The previous configuration keeps serving."
            )
        self._await_draining(before.workers)

    def _await_reload(self, before: ProcessTable) -> ProcessTable:
        deadline = time.monotonic() + self.reload_timeout
        while time.monotonic() < deadline:
            try:
                table = self.processes()
            except (OSError, ValueError):
                table = None
            if table is not None and table.reloads > before.reloads:
                return table
            time.sleep(0.01)
        raise RouterError(f"HAProxy master did not finish reloading in {self.reload_timeout}s")

    def _await_draining(self, old_workers: Sequence[int]) -> None:
        """Return once every previous worker has stopped accepting (or exited).

        By then any new connection reaches a worker with the new configuration, so a caller can
        rely on the routes it just applied.
        """

        def draining(pid: int) -> bool:
            if not _alive(pid):
                return True
            try:
                info = send_command(self.master_socket, f"@!{pid} show info", timeout=1.0)
            except OSError:
                return False
            return "Stopping: 0" not in info

        for pid in old_workers:
            _wait_until(functools.partial(draining, pid), 5.0)


def _slot_server(state: RuntimeState | None, proxy: str, slot: str) -> Server | None:
    """The server in `proxy`'s slot named `slot`, as the state says."""
    number = slots.slot_number(slot)
    if state is None or number is None:
        return None
    found = state.slots.get(proxy, ())
    return found[number - 1] if 0 < number <= len(found) else None
