"""The node agent: keeps the desired set of instances running, healthy and reported.

The instance controller hands the agent the full desired set; one supervision pass (every
`timing.check_interval`, or at once when the set changes) compares it with what runs, starts,
replaces and stops instances through the driver, health-checks them and restarts crashes on
Cloud Foundry's schedule (`backoff.restart_delay`). Where the driver tells exits by a file
descriptor (`Driver.exit_fd`), an exit wakes the agent (`waking.Waker`) and an idle agent
passes only every `timing.idle_check_interval`, for the health checks. Everything it learns
goes to the listener as `InstanceReport`s and log lines; listener calls are made outside the
agent's lock.

The data plane outlives the control plane: each run directory holds a `state.json` with the spec
and the driver's handle, so a new agent (in a new process, after `yun server` restarts) adopts
the running instances instead of restarting them. Stopping a process can take the full grace
period, so it happens in worker threads; the supervision pass never waits for it.

Starting is slow too (a runc start unpacks the droplet, wires a network namespace and runs
`runc run`), so `driver.start` runs on a small pool and one pass can launch many slots at once.
A slot has at most one start in flight (`_Slot.launch`); only the pass thread changes slots, so
the result is applied by the next pass (woken as soon as the start returns). Meanwhile the slot
is STARTING without an address; it gets one, and can become RUNNING, only once its start
returned. A start that raised counts as a crash, as it always did.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from yun.agent.backoff import restart_delay
from yun.agent.clock import Clock, MonotonicClock
from yun.agent.drivers.base import Driver, ExitStatus, Handle, Usage
from yun.agent.env import instance_environment
from yun.agent.health import (
    FAILURES_BEFORE_CRASH,
    Check,
    check_ports,
    checks_after_running,
    probe,
    timeout_reason,
)
from yun.agent.identity import CREDENTIALS_DIR, Identities, expiry
from yun.agent.live_config import LiveConfig, write_config
from yun.agent.logtail import LogTailer
from yun.agent.oneoff import run_once
from yun.agent.specs import AgentListener, InstanceReport, InstanceSpec, InstanceState
from yun.agent.waking import Waker
from yun.settings import Timing
from yun.tls import InstanceOwner

log = logging.getLogger(__name__)
_T = TypeVar("_T")

STATE_FILE = "state.json"
OFFSETS_FILE = "log-offsets.json"
PROBE_WORKERS = 16  # health probes of one pass run in parallel, up to this many at once
# Starts run in parallel up to this many: a start mostly waits on subprocesses (runc, CNI
# plugins, cp) and the disk; more at once would only queue for a small host's CPUs.
START_WORKERS = 8
# ...except where a driver's start is Python work holding the GIL: the process driver untars
# each droplet with `tarfile`, and eight such starts at once take longer than one after another.
ONE_START_AT_A_TIME = frozenset({"process"})


@dataclass
class _Run:
    """One started process of a slot."""

    instance_guid: str
    handle: Handle
    health_deadline: float | None = None
    failures: int = 0
    last_probe: float = -math.inf
    last_check: Check | None = None  # what the last check while STARTING saw
    exit_watched: bool = False  # its exit wakes the agent (`Driver.exit_fd`)
    identity_until: datetime.datetime | None = None  # when its certificate expires


@dataclass
class _Launch:
    """A `driver.start` in flight on the start pool, for the instance `instance_guid`."""

    instance_guid: str
    future: Future[Handle]
    wanted: bool = True  # False once its slot was stopped or replaced meanwhile


@dataclass
class _Slot:
    spec: InstanceSpec
    fingerprint: str
    state: InstanceState = InstanceState.DOWN
    instance_guid: str = ""
    since: float = 0.0
    crash_count: int = 0
    run: _Run | None = None
    exit_code: int | None = None
    reason: str | None = None
    restart_at: float | None = None
    running_since: float | None = None
    desired: bool = True
    launch: _Launch | None = None  # invariant: no run while a start is in flight


@dataclass
class _Retiring:
    slot: str
    run: _Run
    thread: threading.Thread


# Listener calls collected during a pass and made after the lock is released.
_Event = tuple[str, Any]


class Agent:
    def __init__(
        self,
        *,
        root: Path,
        driver: Driver,
        listener: AgentListener,
        timing: Timing,
        clock: Clock = MonotonicClock(),
        observe_pass: Callable[[float], None] | None = None,
        identities: Identities | None = None,
        config_of: Callable[[str], LiveConfig] | None = None,
    ) -> None:
        """`observe_pass(seconds)` is told how long each pass of the agent's thread took.
        With `identities`, every instance gets a certificate and key of its own
        (`agent.identity`), issued again before they expire, and beside them its app's live
        configuration (`agent.live_config`): `config_of(app_guid)` at start, and again for
        each `refresh_config`."""
        self.root = Path(root)
        self.identities = identities
        self.config_of = config_of
        self.config_url = ""  # YUN_CONFIG_URL: where instances follow their configuration
        self.observe_pass = observe_pass
        self.driver = driver
        self.listener = listener
        self.timing = timing
        self.clock = clock
        self._lock = threading.Lock()  # guards the slots; held during a pass
        self._pass_lock = threading.Lock()  # one pass at a time
        self._slots: dict[str, _Slot] = {}
        self._desired: dict[str, InstanceSpec] | None = None  # None: not told yet
        self._desired_changed = False
        self._retiring: list[_Retiring] = []
        self._tailer = LogTailer()
        self._wake = Waker()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._probe_pool: ThreadPoolExecutor | None = None
        self._start_pool: ThreadPoolExecutor | None = None
        self._probed: dict[tuple[str, str], Check] = {}

    # -- public -------------------------------------------------------------------------------

    def start(self) -> None:
        """Adopt instances left running by an earlier agent, then supervise in a thread."""
        self.root.mkdir(parents=True, exist_ok=True)
        events: list[_Event] = []
        with self._pass_lock, self._lock:
            self._adopt(events)
            keep = [slot.run.handle for slot in self._slots.values() if slot.run is not None]
            keep += [retiring.run.handle for retiring in self._retiring]
            for left in self.driver.sweep(keep):
                log.info("removed %s: left by an earlier agent, no state to adopt it by", left)
            self._sweep_credentials({handle.run_dir.name for handle in keep})
        self._emit(events)
        self._tailer.start()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="yun-agent", daemon=True)
        self._thread.start()

    def run_once(
        self,
        spec: InstanceSpec,
        *,
        output: Callable[[str], None],
        timeout: float,
        stop: threading.Event | None = None,
    ) -> ExitStatus:
        """Run `spec` to completion, unsupervised (a release phase, a task); see `oneoff`. It
        has an identity and its app's configuration as an instance has (not renewed: its
        certificate lasts `identity.INSTANCE_HOURS`)."""
        guid = str(uuid.uuid4())
        credentials = self._credentials(guid) if self.identities is not None else None
        try:
            return run_once(
                self.driver,
                spec,
                root=self.root,
                output=output,
                timeout=timeout,
                stop=stop,
                instance_guid=guid,
                env=self._placed(spec, guid, credentials),
                credentials=credentials,
            )
        finally:
            if credentials is not None:
                shutil.rmtree(credentials, ignore_errors=True)

    def keep_staged(self, droplet: Path, tree: Path) -> None:
        """`droplet` was just packed from `tree`: the driver may keep the tree for starts."""
        self.driver.keep_staged(droplet, tree=tree, root=self.root)

    def set_desired(self, specs: Sequence[InstanceSpec]) -> None:
        """The full desired set: missing slots start, unlisted ones stop, changed ones restart."""
        desired: dict[str, InstanceSpec] = {}
        for spec in specs:
            if spec.slot in desired:
                raise ValueError(f"slot {spec.slot} is listed twice")
            desired[spec.slot] = spec
        with self._lock:
            self._desired = desired
            self._desired_changed = True
        self._wake.set()

    def desired_specs(self) -> dict[str, InstanceSpec]:
        """The set last given to `set_desired` (before the first one: what was adopted)."""
        with self._lock:
            if self._desired is not None:
                return dict(self._desired)
            return {key: slot.spec for key, slot in self._slots.items() if slot.desired}

    def reports(self) -> list[InstanceReport]:
        with self._lock:
            return [self._report(slot) for slot in self._slots.values()]

    def usage(self, slot: str, *, disk: bool = True) -> Usage | None:
        """What the slot's live instance uses now; None when the slot has none running.

        Measured outside the lock (a disk walk is not free), so the run may end meanwhile:
        drivers then report what is left, and a failed measurement is logged, not raised.
        """
        return self._measure(slot, lambda handle: self.driver.usage(handle, disk=disk))

    def cpu_seconds(self, slot: str) -> float | None:
        """CPU time the slot's live instance has used so far; None when none runs."""
        return self._measure(slot, self.driver.cpu_seconds)

    def _measure(self, slot: str, measure: Callable[[Handle], _T]) -> _T | None:
        with self._lock:
            found = self._slots.get(slot)
            run = found.run if found is not None else None
        if run is None:
            return None
        try:
            return measure(run.handle)
        except Exception:
            log.exception("measuring instance %s failed", run.instance_guid)
            return None

    def running_slots(self, process_guid: str) -> list[str]:
        """Slots of a process whose instance is RUNNING now."""
        prefix = f"{process_guid}:"
        with self._lock:
            return [
                key
                for key, slot in self._slots.items()
                if key.startswith(prefix) and slot.state is InstanceState.RUNNING
            ]

    def supervise_once(self) -> None:
        """One supervision pass; the agent's thread runs one when woken or due (`_interval`)."""
        events: list[_Event] = []
        with self._pass_lock:
            with self._lock:
                now = self.clock.now()
                self._collect_launches(now, events)
                if self._desired_changed:
                    self._apply_desired(now, events)
                self._finish_retired(events)
                self._prefetch_probes(now)
                for slot in list(self._slots.values()):
                    self._supervise(slot, now, events)
            self._emit(events)

    def stop(self, *, stop_instances: bool = False) -> None:
        """Stop supervising. Instances keep running (a later agent adopts them) unless asked.

        A second call does nothing: the first one let go of every instance.
        """
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        events: list[_Event] = []
        with self._pass_lock:
            self._settle_launches()
            with self._lock:
                self._collect_launches(self.clock.now(), events)
                for slot in self._slots.values():
                    if stop_instances and slot.run is not None and slot.desired:
                        self._cell(slot, f"Stopping instance {slot.instance_guid}", events)
                        self._retire(slot, slot.run, grace=self.timing.stop_grace)
                    elif slot.run is not None and slot.desired:
                        self._save(slot)
                retiring, self._retiring = self._retiring, []
            for item in retiring:
                item.thread.join()
            with self._lock:
                for slot in self._slots.values():
                    if stop_instances or not slot.desired:
                        slot.run = None
                        self._set_state(slot, InstanceState.DOWN, events)
                self._slots.clear()  # no longer ours: a later agent adopts what still runs
            self._emit(events)
            self._tailer.stop()
            if self._probe_pool is not None:
                self._probe_pool.shutdown(wait=True)
                self._probe_pool = None
            if self._start_pool is not None:
                self._start_pool.shutdown(wait=True)
                self._start_pool = None

    # -- desired set --------------------------------------------------------------------------

    def _apply_desired(self, now: float, events: list[_Event]) -> None:
        self._desired_changed = False
        desired = self._desired or {}
        for key, spec in desired.items():
            fingerprint = spec.fingerprint()
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = _Slot(spec=spec, fingerprint=fingerprint)
                self._start(slot, events)
            elif not slot.desired or slot.fingerprint != fingerprint:
                if slot.run is not None and slot.desired:
                    self._cell(slot, f"Stopping instance {slot.instance_guid}", events)
                    self._retire(slot, slot.run, grace=self.timing.stop_grace)
                slot.run = None
                slot.spec, slot.fingerprint, slot.desired = spec, fingerprint, True
                slot.crash_count, slot.exit_code, slot.reason = 0, None, None
                self._start_afresh(slot, now, events)
            elif spec != slot.spec:
                slot.spec = spec  # health check, routes, names: no restart needed
                self._save(slot)
        for key, slot in self._slots.items():
            if key not in desired and slot.desired:
                slot.desired = False
                if slot.launch is not None:
                    slot.launch.wanted = False  # stopped once its start returns
                if slot.run is not None:
                    self._cell(slot, f"Stopping instance {slot.instance_guid}", events)
                    self._retire(slot, slot.run, grace=self.timing.stop_grace)
                    self._set_state(slot, InstanceState.STOPPING, events)

    def _finish_retired(self, events: list[_Event]) -> None:
        still = []
        for item in self._retiring:
            if item.thread.is_alive():
                still.append(item)
            else:
                item.thread.join()
        self._retiring = still
        busy = {item.slot for item in still}
        for key, slot in list(self._slots.items()):
            if not slot.desired and key not in busy and slot.launch is None:
                slot.run = None
                self._set_state(slot, InstanceState.DOWN, events)
                del self._slots[key]

    # -- one slot -----------------------------------------------------------------------------

    def _supervise(self, slot: _Slot, now: float, events: list[_Event]) -> None:
        if not slot.desired or slot.launch is not None:
            return  # going, or its start is still in flight: nothing runs to look at yet
        if slot.run is not None and not self.driver.alive(slot.run.handle):
            status = self.driver.exit_status(slot.run.handle)
            self._retire(slot, slot.run, grace=0.0)  # SIGKILL whatever the leader left behind
            self._crashed(slot, now, exit_code=status.code, reason=status.reason, events=events)
        if slot.run is None:
            if slot.restart_at is not None and now >= slot.restart_at:
                self._start(slot, events)
            return
        run = slot.run
        self._renew_identity(slot, run)
        health = slot.spec.health
        if slot.state is InstanceState.STARTING:
            if not self.driver.ready(run.handle):
                return  # pre-running hooks still at work; the health timeout starts after them
            if run.health_deadline is None:
                run.health_deadline = now + health.timeout
            run.last_check = self._probe(slot, run)
            if run.last_check.healthy:
                slot.running_since = now
                slot.exit_code, slot.reason = None, None
                self._set_state(slot, InstanceState.RUNNING, events)
                self._cell(slot, f"Instance {run.instance_guid} became healthy", events)
            elif now >= run.health_deadline:
                self._kill(slot, run, now, self._timeout_reason(slot, run), events)
            return
        if slot.state is InstanceState.RUNNING:
            up = now - (slot.running_since if slot.running_since is not None else now)
            if slot.crash_count and up >= self.timing.crash_reset_after:
                slot.crash_count = 0
                self._save(slot)
            if (
                not checks_after_running(health)
                or now - run.last_probe < self.timing.liveness_interval
            ):
                return
            run.last_probe = now
            if self._probe(slot, run).healthy:
                run.failures = 0
                return
            run.failures += 1
            if run.failures >= FAILURES_BEFORE_CRASH:
                self._kill(slot, run, now, "health check failed", events)

    def _probe(self, slot: _Slot, run: _Run) -> Check:
        cached = self._probed.pop((slot.spec.slot, run.instance_guid), None)
        if cached is not None:
            return cached
        return probe(slot.spec.health, address=run.handle.address, port=run.handle.port)

    def _timeout_reason(self, slot: _Slot, run: _Run) -> str:
        """What the last check saw, and where else the still-live app listens (its extra
        ports aside): asked of the driver only now, as the start failed."""
        handle = run.handle
        listening: set[int] = set()
        try:
            listening = self.driver.listening_ports(handle) - set(handle.ports.values())
        except Exception:
            log.exception("slot %s: cannot tell where it listens", slot.spec.slot)
        health = slot.spec.health
        return timeout_reason(health, run.last_check, port=handle.port, listening=listening)

    def _probe_due(self, slot: _Slot, now: float) -> bool:
        run = slot.run
        if not slot.desired or run is None:
            return False
        if slot.state is InstanceState.STARTING:
            return self.driver.ready(run.handle)
        if slot.state is InstanceState.RUNNING:
            return (
                checks_after_running(slot.spec.health)
                and now - run.last_probe >= self.timing.liveness_interval
            )
        return False

    def _prefetch_probes(self, now: float) -> None:
        """Probe every instance due for a check at once, so one slow app (an http check may
        take its whole invocation timeout) does not hold up the others' health in this pass:
        http checks on a pool of threads, port checks all together from this one."""
        due = [slot for slot in self._slots.values() if self._probe_due(slot, now)]
        self._probed = {}
        if len(due) < 2:
            return
        futures = {}
        ports: dict[tuple[str, str], tuple[str, int, float]] = {}
        for slot in due:
            assert slot.run is not None
            handle, health = slot.run.handle, slot.spec.health
            key = (slot.spec.slot, slot.run.instance_guid)
            if health.type == "port" and handle.address is not None and handle.port is not None:
                ports[key] = (handle.address, handle.port, health.invocation_timeout)
            elif health.type == "http":
                if self._probe_pool is None:
                    self._probe_pool = ThreadPoolExecutor(
                        PROBE_WORKERS, thread_name_prefix="yun-probe"
                    )
                futures[key] = self._probe_pool.submit(
                    probe, health, address=handle.address, port=handle.port
                )
            else:
                self._probed[key] = probe(health, address=handle.address, port=handle.port)
        self._probed.update(zip(ports, check_ports(list(ports.values())), strict=True))
        self._probed.update({key: future.result() for key, future in futures.items()})

    # -- starting -----------------------------------------------------------------------------

    def _start(self, slot: _Slot, events: list[_Event]) -> None:
        """Launch a new instance of the slot on the start pool; a later pass applies it."""
        assert slot.run is None and slot.launch is None, f"slot {slot.spec.slot} is busy"
        guid = str(uuid.uuid4())
        slot.instance_guid, slot.restart_at, slot.running_since = guid, None, None
        self._cell(slot, f"Starting instance {guid}", events)
        self._set_state(slot, InstanceState.STARTING, events)  # no longer what it was before
        if self._start_pool is None:
            workers = 1 if self.driver.name in ONE_START_AT_A_TIME else START_WORKERS
            self._start_pool = ThreadPoolExecutor(workers, thread_name_prefix="yun-start")
        future = self._start_pool.submit(self._launch, slot.spec, guid)
        slot.launch = _Launch(instance_guid=guid, future=future)
        future.add_done_callback(lambda _: self._wake.set())  # apply it without waiting

    def _start_afresh(self, slot: _Slot, now: float, events: list[_Event]) -> None:
        """Start the slot's new spec; if a start of its old one is still in flight, as soon
        as that one returned (and is stopped): one slot never has two starts at once."""
        if slot.launch is None:
            self._start(slot, events)
        else:
            slot.launch.wanted = False
            slot.restart_at = now

    def _launch(self, spec: InstanceSpec, guid: str) -> Handle:
        """On the start pool: the slow part of starting. Touches no slot (the pass does that)."""
        run_dir = self.root / guid
        credentials = self._credentials(guid) if self.identities is not None else None
        try:
            env = self._placed(spec, guid, credentials)
            env.update(instance_environment(spec, instance_guid=guid))
            return self.driver.start(spec, run_dir=run_dir, env=env, credentials=credentials)
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            if credentials is not None:
                shutil.rmtree(credentials, ignore_errors=True)
            raise

    def _placed(self, spec: InstanceSpec, guid: str, credentials: Path | None) -> dict[str, str]:
        """Issue the identity of instance `guid` into `credentials` with its app's live
        configuration beside it; the environment that goes below the platform's and the app's
        own: the configuration's values, and where to follow it."""
        if self.identities is None or credentials is None:
            return {}
        self.identities.issue(credentials, _owner(spec, guid))
        config = self._config(spec.app_guid)
        write_config(credentials, config)
        env = dict(config.values)
        if self.config_url:
            env["YUN_CONFIG_URL"] = self.config_url
        return env

    def _collect_launches(self, now: float, events: list[_Event]) -> None:
        """Apply every start that returned since the last pass."""
        for slot in list(self._slots.values()):
            launch = slot.launch
            if launch is not None and launch.future.done():
                slot.launch = None
                self._launched(slot, launch, now, events)

    def _launched(self, slot: _Slot, launch: _Launch, now: float, events: list[_Event]) -> None:
        """A returned start becomes the slot's STARTING run; one the slot no longer wants is
        stopped; one that raised is a crash, unless it was of a spec no longer wanted."""
        if launch.future.cancelled():
            return  # the agent stopped before it began: nothing was started
        error = launch.future.exception()
        if error is not None:
            log.warning("slot %s: start failed: %s", slot.spec.slot, error)
            if launch.wanted:
                reason = f"failed to start: {error}"
                self._crashed(slot, now, exit_code=None, reason=reason, events=events)
            return
        run = _Run(instance_guid=launch.instance_guid, handle=launch.future.result())
        if not launch.wanted:
            self._cell(slot, f"Stopping instance {run.instance_guid}", events)
            self._retire(slot, run, grace=self.timing.stop_grace)
            return
        slot.run = run
        self._watch_exit(run)
        self._read_identity(run)
        self._follow_logs(slot, run)
        self._set_state(slot, InstanceState.STARTING, events)

    def _settle_launches(self) -> None:
        """Before letting go of the slots: drop the starts still queued (nothing of them exists
        yet) and wait for those under way, so no instance appears after the agent stopped."""
        with self._lock:
            futures = [s.launch.future for s in self._slots.values() if s.launch is not None]
        for future in futures:
            future.cancel()
        wait(futures)

    # -- stopping and crashing ----------------------------------------------------------------

    def _kill(self, slot: _Slot, run: _Run, now: float, reason: str, events: list[_Event]) -> None:
        """End a live but unhealthy instance; it counts as a crash."""
        self._retire(slot, run, grace=self.timing.stop_grace)
        self._crashed(slot, now, exit_code=None, reason=reason, events=events)
        if slot.restart_at is not None and now >= slot.restart_at:
            self._start(slot, events)

    def _crashed(
        self,
        slot: _Slot,
        now: float,
        *,
        exit_code: int | None,
        reason: str,
        events: list[_Event],
    ) -> None:
        slot.crash_count += 1
        slot.exit_code, slot.reason = exit_code, reason
        delay = restart_delay(slot.crash_count, self.timing)
        slot.restart_at = now + delay
        slot.run, slot.running_since = None, None
        self._set_state(slot, InstanceState.CRASHED, events)
        events.append(("crash", self._report(slot)))
        later = f", restarting in {delay:g}s" if delay else ""
        self._cell(slot, f"Instance {slot.instance_guid} crashed: {reason}{later}", events)

    def _retire(self, slot: _Slot, run: _Run, *, grace: float) -> None:
        """Stop a run's processes, read the rest of its output and delete it, in a worker."""

        def work() -> None:
            try:
                self.driver.stop(run.handle, grace=grace)
            except Exception:
                log.exception("stopping instance %s failed", run.instance_guid)
            self._tailer.unfollow(run.instance_guid)
            try:
                self.driver.remove(run.handle)
            except Exception:
                log.exception("removing instance %s failed", run.instance_guid)
            shutil.rmtree(self._credentials(run.instance_guid), ignore_errors=True)
            self._wake.set()  # the next pass lets go of the slot now, not at its next tick

        thread = threading.Thread(target=work, name=f"yun-stop-{run.instance_guid[:8]}")
        thread.start()
        self._retiring.append(_Retiring(slot=slot.spec.slot, run=run, thread=thread))

    # -- reports, logs, persistence -----------------------------------------------------------

    def _report(self, slot: _Slot) -> InstanceReport:
        handle = slot.run.handle if slot.run is not None else None
        return InstanceReport(
            slot=slot.spec.slot,
            instance_guid=slot.instance_guid,
            state=slot.state,
            address=handle.address if handle else None,
            port=handle.port if handle else None,
            pid=handle.pid if handle else None,
            since=slot.since,
            crash_count=slot.crash_count,
            exit_code=slot.exit_code,
            reason=slot.reason,
            fingerprint=slot.fingerprint,
            ports=dict(handle.ports) if handle else {},
        )

    def _set_state(self, slot: _Slot, state: InstanceState, events: list[_Event]) -> None:
        slot.state = state
        slot.since = self.clock.wall()
        events.append(("state", self._report(slot)))
        self._save(slot)

    def _cell(self, slot: _Slot, line: str, events: list[_Event]) -> None:
        events.append(("log", (slot.spec, f"CELL/{slot.spec.index}", line, self.clock.wall())))

    def _follow_logs(self, slot: _Slot, run: _Run) -> None:
        spec = slot.spec
        source = f"APP/PROC/{spec.process_type.upper()}/{spec.index}"

        def sink(stream: str, line: str, ts: float) -> None:
            self.listener.on_log(spec.slot, spec.index, spec.app_guid, source, line, ts)

        self._tailer.follow(
            run.instance_guid,
            files=run.handle.logs,
            offsets_file=run.handle.run_dir / OFFSETS_FILE,
            sink=sink,
        )

    def _emit(self, events: list[_Event]) -> None:
        for kind, payload in events:
            try:
                if kind == "state":
                    self.listener.on_state(payload)
                elif kind == "crash":
                    self.listener.on_crash(payload)
                else:
                    spec, source, line, ts = payload
                    self.listener.on_log(spec.slot, spec.index, spec.app_guid, source, line, ts)
            except Exception:
                log.exception("agent listener failed on %s", kind)

    def _save(self, slot: _Slot) -> None:
        """Write what a later agent needs to adopt the slot's run."""
        run = slot.run
        if run is None or not run.handle.run_dir.is_dir():
            return
        record = {
            "slot": slot.spec.slot,
            "instance_guid": run.instance_guid,
            "fingerprint": slot.fingerprint,
            "state": str(slot.state),
            "since": slot.since,
            "crash_count": slot.crash_count,
            "spec": slot.spec.to_dict(),
            "driver": self.driver.name,
            "handle": self.driver.to_dict(run.handle),
        }
        path = run.handle.run_dir / STATE_FILE
        temporary = path.with_suffix(".tmp")
        try:
            # The spec holds the instance's environment (secrets included): this user's alone.
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(json.dumps(record, indent=1))
            os.replace(temporary, path)
        except OSError as exc:
            log.warning("slot %s: cannot save state: %s", slot.spec.slot, exc)

    def _adopt(self, events: list[_Event]) -> None:
        """Take over the runs an earlier agent left in `root` (named by instance guid; dot
        directories are the driver's, e.g. its droplet cache)."""
        now = self.clock.now()
        for run_dir in sorted(self.root.iterdir()):
            if not run_dir.is_dir() or run_dir.name.startswith("."):
                continue
            record: dict[str, Any] | None = None
            handle: Handle | None = None
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
                record = json.loads((run_dir / STATE_FILE).read_text())
                other = record.get("driver", self.driver.name)
                if other != self.driver.name:
                    # Not ours to judge, nor to remove: its process may well be running.
                    log.warning(
                        "leaving %s alone: the %s driver runs it, this agent has the %s driver"
                        " (YUN_DRIVER=%s reaches it)",
                        run_dir,
                        other,
                        self.driver.name,
                        other,
                    )
                    continue
                spec = InstanceSpec.from_dict(record["spec"])
                handle = self.driver.adopt(record["handle"])
            if record is None or handle is None:
                log.warning("removing %s: no usable state to adopt it by", run_dir)
                shutil.rmtree(run_dir, ignore_errors=True)
                continue
            state = InstanceState.STARTING
            if record.get("state") == "RUNNING":
                state = InstanceState.RUNNING
            run = _Run(instance_guid=str(record["instance_guid"]), handle=handle)
            slot = _Slot(
                spec=spec,
                fingerprint=spec.fingerprint(),
                state=state,
                instance_guid=run.instance_guid,
                since=float(record.get("since") or self.clock.wall()),
                crash_count=int(record.get("crash_count") or 0),
                run=run,
                running_since=now if state is InstanceState.RUNNING else None,
            )
            previous = self._slots.get(spec.slot)
            if previous is not None and previous.run is not None:
                # Two runs of one slot (an agent died mid-replacement): keep the newer one.
                if previous.since > slot.since:
                    self._retire(slot, run, grace=self.timing.stop_grace)
                    continue
                self._retire(previous, previous.run, grace=self.timing.stop_grace)
            self._slots[spec.slot] = slot
            self._watch_exit(run)
            self._read_identity(run)
            self._follow_logs(slot, run)
            events.append(("state", self._report(slot)))
            log.info("adopted instance %s of slot %s", slot.instance_guid, spec.slot)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            began = time.monotonic()
            try:
                self.supervise_once()
            except Exception:
                log.exception("supervision pass failed")
            if self.observe_pass is not None:
                self.observe_pass(time.monotonic() - began)
            self._wake.wait(self._interval())

    # -- live configuration -------------------------------------------------------------------

    def refresh_config(self, app_guids: Iterable[str]) -> int:
        """Write the apps' configuration anew into each of their running instances; returns
        how many files were written. Called from outside the agent's thread."""
        wanted = set(app_guids)
        if self.identities is None or not wanted:
            return 0
        with self._lock:
            runs = [
                (slot.spec.app_guid, slot.run.instance_guid)
                for slot in self._slots.values()
                if slot.run is not None and slot.spec.app_guid in wanted
            ]
        configs = {app: self._config(app) for app in {app for app, _ in runs}}
        written = 0
        for app, instance_guid in runs:
            folder = self._credentials(instance_guid)
            try:
                write_config(folder, configs[app])
                written += 1
            except FileNotFoundError:
                continue  # the instance is gone meanwhile
        return written

    def _config(self, app_guid: str) -> LiveConfig:
        if self.config_of is None:
            return LiveConfig()
        try:
            return self.config_of(app_guid)
        except Exception:  # the store is away: the instance starts, the next refresh fixes it
            log.exception("cannot read the configuration of app %s", app_guid)
            return LiveConfig()

    # -- identity -----------------------------------------------------------------------------

    def _credentials(self, instance_guid: str) -> Path:
        return self.root / CREDENTIALS_DIR / instance_guid

    def _read_identity(self, run: _Run) -> None:
        if self.identities is not None:
            run.identity_until = expiry(self._credentials(run.instance_guid))

    def _renew_identity(self, slot: _Slot, run: _Run) -> None:
        """Issue the instance's certificate again in place when a third of its time is left."""
        until = run.identity_until
        if self.identities is None or until is None or not self.identities.due(until):
            return
        try:
            folder = self._credentials(run.instance_guid)
            run.identity_until = self.identities.issue(folder, _owner(slot.spec, run.instance_guid))
        except OSError as exc:
            log.warning("instance %s: cannot renew its certificate: %s", run.instance_guid, exc)

    def _sweep_credentials(self, keep: set[str]) -> None:
        """Remove the identity folders of instances no longer here (a run dir's name is its
        instance guid)."""
        with contextlib.suppress(FileNotFoundError):
            for folder in (self.root / CREDENTIALS_DIR).iterdir():
                if folder.name not in keep:
                    shutil.rmtree(folder, ignore_errors=True)

    def _watch_exit(self, run: _Run) -> None:
        fd = self.driver.exit_fd(run.handle)
        run.exit_watched = fd is not None and self._wake.watch(fd)

    def _interval(self) -> float:
        """Seconds to the next pass: shorter while an instance starts, so it is found healthy
        (and routed) within a tenth of a second of listening; longer while every instance's
        exit wakes the agent by itself and nothing is due sooner (a restart after a backoff)."""
        timing = self.timing
        idle = max(timing.check_interval, min(timing.idle_check_interval, timing.liveness_interval))
        now = self.clock.now()
        with self._lock:
            for slot in self._slots.values():
                if slot.state is InstanceState.STARTING:
                    return timing.starting_check_interval
                if not slot.desired or slot.launch is not None:
                    continue  # its stop or start wakes the agent when it returns
                if slot.run is not None and not slot.run.exit_watched:
                    idle = timing.check_interval
                elif slot.run is None and slot.restart_at is not None:
                    soon = slot.restart_at - now
                    idle = min(idle, max(soon, timing.starting_check_interval))
        return idle


def _owner(spec: InstanceSpec, instance_guid: str) -> InstanceOwner:
    return InstanceOwner(
        instance_guid=instance_guid,
        app_guid=spec.app_guid,
        space_guid=spec.space_guid,
        org_guid=spec.org_guid,
    )
