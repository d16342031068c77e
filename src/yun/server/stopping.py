"""`yun server stop --all`: stop the data plane of a YUN_HOME after its server has gone.

Instances and HAProxy keep their state in files precisely so that a new process can adopt them;
here a short-lived agent adopts the instances only to stop them, and HAProxy is stopped by pid.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json

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


def stop_data_plane(settings: Settings) -> int:
    """Stops every instance, HAProxy, the registry and the built-in services' servers of this
    home (their data stays); returns how many instances it stopped."""
    listener = _Quiet()
    if (recorded := recorded_driver(settings)) is not None and recorded != settings.driver:
        settings = dataclasses.replace(settings, driver=recorded)
    if settings.instances_dir.exists():
        agent = Agent(
            root=settings.instances_dir,
            driver=make_driver(settings),
            listener=listener,
            timing=settings.timing,
        )
        agent.start()
        count = len(agent.reports())
        agent.stop(stop_instances=True)
    else:
        count = 0
    config = RouterConfig(
        bind=settings.router_bind,
        port=settings.router_port,
        run_dir=settings.router_dir,
    )
    HAProxy(config, binary=settings.haproxy).stop()
    if (registry := platform_registry(settings)) is not None:
        registry.stop()
    if settings.services_dir.exists():
        stop_servers(settings)
    if choose(settings) == "runc":
        network(settings).teardown()
    return count
