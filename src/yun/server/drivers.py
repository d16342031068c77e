"""Which runtime driver runs instances (and stagings): `runc` containers where possible, else
host processes.

`YUN_DRIVER=process|runc|auto` (default `auto`): `auto` picks runc when running as root with
runc, iproute2 and the CNI plugins installed, and otherwise says why it runs host processes.
`yun server` and `yun server stop --all` build the driver through here, so both agree on how
instances were started.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from yun.agent import Driver, ProcessDriver
from yun.agent import runsc as gvisor
from yun.agent.drivers.runc import RuncDriver
from yun.agent.drivers.runc_staging import RuncStaging
from yun.agent.network import CniNetwork
from yun.builder import Sandbox, launcher_path
from yun.server.services import Reach
from yun.settings import Settings
from yun.stacks import HOST, StackStore
from yun.stacks.userlands import BuiltStacks, HostUserland, Userlands

CNI_PLUGINS = Path("/usr/lib/cni")
log = logging.getLogger(__name__)


class DriverUnavailable(Exception):
    pass


def runc_missing() -> str | None:
    """Why the runc driver cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "the runc driver needs root (containers, network namespaces, cgroups)"
    for tool in ("runc", "ip"):
        if shutil.which(tool) is None:
            return f"the runc driver needs {tool!r} on PATH (apt-get install runc iproute2)"
    if not (CNI_PLUGINS / "bridge").exists():
        return "the runc driver needs the CNI plugins (apt-get install containernetworking-plugins)"
    return None


def choose(settings: Settings) -> str:
    wanted = settings.driver
    if wanted not in ("process", "runc", "auto"):
        raise DriverUnavailable(f"YUN_DRIVER={wanted!r}: use process, runc or auto")
    if wanted == "process":
        return "process"
    reason = runc_missing()
    if wanted == "runc" and reason is not None:
        raise DriverUnavailable(f"YUN_DRIVER=runc: {reason}")
    return "process" if reason is not None else "runc"


def network(settings: Settings) -> CniNetwork:
    return CniNetwork(
        subnet=settings.subnet,
        bridge=settings.bridge,
        state_dir=settings.home / "network",
        service_ports=settings.service_ports,  # instances reach the built-in brokers' servers
        dns=True,  # and the platform's DNS (`dns_reach`)
        network_policies=True,  # app-to-app traffic as network policies allow (nftables)
        config_port=settings.config_port,  # live configuration's watch endpoint
    )


def make_driver(settings: Settings) -> Driver:
    if choose(settings) == "process":
        return ProcessDriver(launcher_path())
    runsc = gvisor.find()
    return RuncDriver(
        launcher_path(),
        state_root=settings.home / "runc",
        network=network(settings),
        runsc=str(runsc) if runsc else None,
    )


def runtimes_missing(driver: Driver) -> dict[str, str | None]:
    """Per runtime a space or app may ask for: why this platform cannot run it, or None."""
    if not isinstance(driver, RuncDriver):
        why = "instances run as host processes here (the process driver, without root)"
        return {"runc": None, "gvisor": f"{why}; gVisor needs the runc driver"}
    if driver.runsc_binary is None:
        return {"runc": None, "gvisor": gvisor.missing() or "runsc is not on this machine"}
    return {"runc": None, "gvisor": None}


def staging_sandbox(settings: Settings, driver: Driver) -> Sandbox | None:
    """Where buildpacks run: in runc containers when instances do (on the same network, so a
    buildpack reaches package indexes but not the platform), else on the host. Sessions a
    killed server left behind are removed here."""
    if not isinstance(driver, RuncDriver):
        return None
    staging = RuncStaging(state_root=settings.home / "staging-runc", network=driver.network)
    for sid in staging.sweep():
        log.info("removed staging container %s left by an earlier server", sid)
    return staging


def userlands(settings: Settings, sandbox: Sandbox | None) -> Userlands:
    """What apps stage and run on: the stacks when stagings run in containers (the runc
    driver) unless YUN_STACK=host, else the host's own userland."""
    if sandbox is None:
        return HostUserland()
    if settings.default_stack == HOST:
        return HostUserland(why="YUN_STACK=host: containers see the host's /usr read-only")
    store = StackStore(settings.stacks_dir, mirror=settings.stack_mirror)
    try:
        return BuiltStacks(store, default=settings.default_stack)
    except ValueError as exc:
        raise DriverUnavailable(f"{exc}, or host for the host's own programs") from exc


def dns_reach(driver: Driver) -> str | None:
    """The address where containers find the platform's DNS (port 53): the host's address on
    their bridge; None when instances have no network of their own."""
    if isinstance(driver, RuncDriver) and isinstance(driver.network, CniNetwork):
        return driver.network.host_address()
    return None


def service_reach(driver: Driver) -> Reach:
    """Where the built-in services' servers listen and what address apps get: loopback for
    host processes; with container networking also the host's bridge address, which the
    instances reach (the firewall opens the services' ports there)."""
    if isinstance(driver, RuncDriver) and isinstance(driver.network, CniNetwork):
        gateway = driver.network.host_address()
        return Reach(listen=("127.0.0.1", gateway), host=gateway)
    return Reach()
