"""`yun server stop --all`: stop the data plane of a YUN_HOME after its server has gone.

Instances and HAProxy keep their state in files precisely so that a new process can adopt them;
here a short-lived agent adopts the instances only to stop them, and HAProxy is stopped by pid.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable

from yun.agent import Agent, InstanceReport
from yun.agent.supervisor import STATE_FILE
from yun.router import HAProxy, RouterConfig
from yun.server.drivers import choose, make_driver, network
from yun.server.images import platform_registry
from yun.server.services import stop_servers
from yun.settings import Settings


class _Quiet:
    def __init__(self) -> None:
        self.count = 0

    def on_state(self, report: InstanceReport) -> None:
        if str(report.state) == "RUNNING":
            self.count += 1

    def on_crash(self, report: InstanceReport) -> None:
        pass

    def on_log(
        self, slot: str, instance_index: int, app_guid: str, source: str, line: str, ts: float
    ) -> None:
        pass


def recorded_driver(settings: Settings) -> str | None:
    """The driver the instances of this home were started with, as their state files say
    (None: they do not say, or not all the same): the one that can adopt and stop them, whatever
    YUN_DRIVER says now."""
    names: set[str] = set()
    for state in settings.instances_dir.glob(f"*/{STATE_FILE}"):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            name = json.loads(state.read_text()).get("driver")
            if isinstance(name, str):
                names.add(name)
    return names.pop() if len(names) == 1 else None


class StopIncomplete(RuntimeError):
    """Some parts of the data plane did not stop; the message names each with its reason."""


def stop_data_plane(settings: Settings) -> int:
    """Stops every instance, HAProxy, the registry and the built-in services' servers of this
    home (their data stays); returns how many instances it stopped. A part that fails does not
    keep the others running: each is tried, then StopIncomplete names the ones that failed."""
    if (recorded := recorded_driver(settings)) is not None and recorded != settings.driver:
        settings = dataclasses.replace(settings, driver=recorded)
    failed: list[str] = []
    count = 0

    def attempt(part: str, step: Callable[[], object]) -> None:
        try:
            step()
        except Exception as exc:  # one part failing must not leave the others running
            failed.append(f"{part}: {exc}")

    def instances() -> None:
        nonlocal count
        if not settings.instances_dir.exists():
            return
        agent = Agent(
            root=settings.instances_dir,
            driver=make_driver(settings),
            listener=_Quiet(),
            timing=settings.timing,
        )
        agent.start()
        count = len(agent.reports())
        agent.stop(stop_instances=True)

    config = RouterConfig(
        bind=settings.router_bind, port=settings.router_port, run_dir=settings.router_dir
    )
    attempt("instances", instances)
    attempt("router", HAProxy(config, binary=settings.haproxy).stop)
    if (registry := platform_registry(settings)) is not None:
        attempt("registry", registry.stop)
    if settings.services_dir.exists():
        attempt("services", lambda: _services(settings))
    if choose(settings) == "runc":
        attempt("network", network(settings).teardown)
    if failed:
        raise StopIncomplete("; ".join(failed))
    return count


def _services(settings: Settings) -> None:
    stopped = stop_servers(settings)
    if problems := [name for name, ok in stopped.items() if not ok]:
        raise RuntimeError(f"{', '.join(problems)} servers did not all stop (see the log)")
