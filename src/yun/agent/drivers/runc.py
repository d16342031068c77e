"""The runc driver: every instance in its own OCI container, run by `runc`.

Same contract as the process driver (`base.Driver`), stronger walls: the app sees only its own
processes (pid namespace), a read-only host stack with its droplet at `/home/vcap/app`, runs as
the unprivileged `vcap` user without capabilities, and is held to its memory (OOM kill), CPU
share, process count and disk quota. Containers are started detached (`runc run --detach`) with
their output going to files in the run directory, so they keep running when the agent exits and
a later agent adopts them through `runc state`.

Without a `ContainerNetwork` the container shares the host's network and listens on a free
port of 127.0.0.1, exactly like a process instance; with one it gets its own named network
namespace and listens on PORT=8080 at the address the network hands out. The same holds for
the extra ports of its TCP routes (`InstanceSpec.ports`): free host ports, or fixed ones (9000,
9001, …) inside a container of its own.

Liveness reads `/proc/<init pid>` (recorded start time guards against pid reuse) rather than
spawning `runc state` on every check; when the container's first process dies the kernel kills
everything else in its pid namespace. Why it died comes from the launcher's exit-status file,
the cgroup's OOM counter (read before `runc delete` removes the cgroup), and the driver's own
marker when it killed the instance for exceeding its disk quota.

Each instance under runc has a user namespace of its own (`oci.ID_BASE`): the app's `vcap`
(2000) is host id `ID_BASE + 2000` and the container's root is `ID_BASE`, nobody on the host;
the driver gives the instance's files to those ids and makes the folders its bind mounts come
from searchable (o+x) for them. An image instance's root is a copy of its image with the
owners moved likewise (`runc_image.shifted_root`, once per image: runc 1.1 has no idmapped
mounts). gVisor's instances keep the host's ids: their sandbox is the wall.

An instance whose spec asks for the `gvisor` runtime is run by gVisor's `runsc` from the same
bundle (`yun.agent.runsc`), with a state root of its own: its processes talk to gVisor's
kernel, a user-space process on the host, and its network is gVisor's own stack on the
container's interface, so it needs container networking (its listening sockets are read
inside the sandbox, `runsc exec … cat /proc/net/tcp`). The pid runsc reports is the
sandbox's; liveness, signals, limits and cgroup readings work as for runc.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from yun.agent.drivers.base import ExitStatus, Handle, Usage, handle_from_dict, handle_to_dict
from yun.agent.drivers.cgroups import Cgroup, swap_accounting
from yun.agent.drivers.droplet_cache import DROPLET_CACHE, extract_droplet, park_staged
from yun.agent.drivers.listeners import (
    TABLES,
    listening_sockets,
    ports_of_namespace,
    ports_of_processes,
)
from yun.agent.drivers.oci import (
    APP_DIR,
    CREDENTIALS_DIR,
    DEPS_DIR,
    ID_BASE,
    ID_RANGE,
    LAUNCHER,
    MIB,
    STATUS_DIR,
    VCAP_GID,
    VCAP_UID,
    ContainerSpec,
    Stack,
    built_stack,
    container_config,
    host_stack,
    trust_store_with,
)
from yun.agent.drivers.process import HOOK_RUNNER
from yun.agent.drivers.runc_bundle import (
    chown_tree,
    disk_usage,
    make_rootfs,
    searchable,
    write_config,
)
from yun.agent.drivers.runc_cli import Runc, RuncError
from yun.agent.drivers.runc_image import (
    LIFECYCLE,
    ImageContainer,
    ImageRunError,
    image_config,
    image_mounts,
    mount_overlay,
    resolve_program,
    resolve_user,
    shifted_root,
    unmount_overlay,
    write_etc,
)
from yun.agent.drivers.runc_network import (
    CONTAINER_PORT,
    ContainerNetwork,
    HostPorts,
    NetworkLease,
    container_ports,
    create_netns,
    delete_netns,
    netns_name,
    netns_path,
)
from yun.agent.drivers.runc_staging import SESSION_PREFIX
from yun.agent.env import credentials_environment, placement_environment
from yun.agent.identity import CA_FILE, owner_of
from yun.agent.runsc import FLAGS as RUNSC_FLAGS
from yun.agent.specs import ImageSpec, InstanceSpec
from yun.harbor import harbor_environment
from yun.runtimes import DEFAULT_RUNTIME

__all__ = ["ContainerNetwork", "NetworkLease", "RuncDriver", "RuncError", "container_id"]

log = logging.getLogger(__name__)

DEFAULT_STATE_ROOT = Path("/run/yun/runc")  # tmpfs, like runc's /run/runc: gone on reboot
DISK_CHECK_INTERVAL = 5.0
STDOUT = "stdout.log"
STDERR = "stderr.log"
RUNC_LOG = "runc.log"
EXIT_FILE = "exit-status"  # in status/, written by the launcher inside the container
HOOKS_DONE = "hooks-done"
HOOK_FAILED = "hook-failed"
DISK_EXCEEDED = "disk-quota-exceeded"  # in the run dir, out of the app's reach
OOM_KILLED = "oom-killed"
STOP_POLL = 0.02
OUT_OF_MEMORY = ExitStatus(137, "out of memory")
NULL_NETNS = "null-netns"  # runsc's pinned empty network namespace, in its state root


def container_id(instance_guid: str) -> str:
    """runc's container id of an instance: `yun-` and the guid, in runc's [\\w+.-] alphabet."""
    return "yun-" + re.sub(r"[^\w+.-]", "-", instance_guid)


def _describe(code: int) -> str:
    if code > 128:
        with contextlib.suppress(ValueError):
            return f"exited with {code} ({signal.Signals(code - 128).name})"
    return f"exited with {code}"


def _starttime(pid: int) -> int | None:
    """Start time and liveness from /proc: None when gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


class RuncDriver:
    name = "runc"

    def __init__(
        self,
        launcher: Path,
        *,
        state_root: Path | None = None,
        runc: str = "runc",
        network: ContainerNetwork | None = None,
        bind: str = "127.0.0.1",
        disk_check_interval: float = DISK_CHECK_INTERVAL,
        nameservers: tuple[str, ...] = (),
        runsc: str | None = None,
        user_namespaces: bool = True,
    ) -> None:
        """`nameservers`, when given, are the resolv.conf of every networked instance (the
        platform's internal DNS on the bridge), instead of what the network's lease says.
        `runsc`, gVisor's program, runs the instances of the `gvisor` runtime; without it they
        fail to start, saying so."""
        self.nameservers = nameservers
        self.runsc_binary = runsc
        self.user_namespaces = user_namespaces
        self.launcher = Path(launcher).absolute()
        self.state_root = Path(state_root or DEFAULT_STATE_ROOT).absolute()
        self.runc_binary = runc
        self.network = network
        self.bind = bind
        self.disk_check_interval = disk_check_interval
        self._lock = threading.Lock()
        self._ports = HostPorts(bind)
        self._disk_checked: dict[str, float] = {}  # container id -> monotonic time of last look

    def _runc(self, handle: Handle | None = None, *, runtime: str | None = None) -> Runc:
        """The command line of `runtime` (else the handle's; runc by default), with the state
        root the handle was started under."""
        root = handle.data.get("state_root") if handle is not None else None
        if runtime is None:
            runtime = str(handle.data.get("runtime") or DEFAULT_RUNTIME) if handle else "runc"
        if runtime == DEFAULT_RUNTIME:
            return Runc(self.runc_binary, Path(root) if root else self.state_root)
        if self.runsc_binary is None:
            raise RuncError(
                f"runtime {runtime}: runsc is not built on this machine (build it with"
                " `make runsc`)"
            )
        return Runc(self.runsc_binary, Path(root) if root else self.gvisor_root, RUNSC_FLAGS)

    @property
    def gvisor_root(self) -> Path:
        """runsc's state root, beside runc's (their state files differ)."""
        return self.state_root.with_name(self.state_root.name + "-gvisor")

    # -- starting ---------------------------------------------------------------------------

    def start(
        self,
        spec: InstanceSpec,
        *,
        run_dir: Path,
        env: Mapping[str, str],
        credentials: Path | None = None,
    ) -> Handle:
        if spec.image is not None and self.network is None:
            raise ImageRunError("an image instance needs container networking (its own port)")
        runc = self._runc(runtime=spec.runtime)
        if spec.runtime != DEFAULT_RUNTIME and self.network is None:
            raise RuncError(f"runtime {spec.runtime} needs container networking (its own stack)")
        run_dir.mkdir(parents=True)
        guid = env.get("CF_INSTANCE_GUID") or run_dir.name
        cid = container_id(guid)
        id_base = self._id_base(spec)
        if spec.image is None:
            extract_droplet(spec.droplet, run_dir)
            vcap = (id_base or 0) + VCAP_UID, (id_base or 0) + VCAP_GID
            for name in ("app", "deps", "status"):
                (run_dir / name).mkdir(exist_ok=True)
                chown_tree(run_dir / name, *vcap)
            if id_base is not None:
                _give_logs(run_dir, vcap[0])
        netns = netns_name(cid) if self.network is not None else None
        port: int | None = None
        ports: dict[str, int] = {}
        try:
            address: str = self.bind
            dns: tuple[str, ...] = ()
            if netns is not None and self.network is not None:
                lease = self.network.attach(cid, create_netns(netns))
                address, dns = lease.address, self.nameservers or tuple(lease.dns)
                port = spec.image.port if spec.image else CONTAINER_PORT
                ports = container_ports(spec.ports, port=port)
            else:
                port = self._ports.take(run_dir)
                for name in spec.ports:
                    ports[name] = self._ports.take(run_dir)
            full_env = self._environment(spec, env, address=address, port=port)
            full_env.update(harbor_environment(ports))
            if credentials is not None:
                full_env.update(credentials_environment(CREDENTIALS_DIR))
            placed: dict[str, Any] = {
                "cid": cid,
                "env": full_env,
                "address": address,
                "dns": dns,
                "credentials": credentials,
            }
            if spec.image is not None:
                self._write_image_bundle(spec, spec.image, run_dir, **placed)
            else:
                self._write_bundle(spec, run_dir, **placed)
            runc.run_detached(
                cid,
                bundle=run_dir,
                stdout=run_dir / STDOUT,
                stderr=run_dir / STDERR,
                log=run_dir / RUNC_LOG,
            )
            state = runc.state(cid)
            pid = state.pid if state is not None else 0
        except BaseException:
            with contextlib.suppress(Exception):
                runc.delete(cid)
            with contextlib.suppress(Exception):
                unmount_overlay(image_mounts(run_dir))
            with contextlib.suppress(Exception):
                self._release_network(cid, netns)
            if netns is None:
                for taken in (port, *ports.values()):
                    self._ports.release(taken, run_dir)
            if spec.runtime != DEFAULT_RUNTIME:
                self._unpin_null_netns()
            raise
        return Handle(
            run_dir=run_dir,
            pid=pid or None,
            address=address,
            port=port,
            logs={"OUT": run_dir / STDOUT, "ERR": run_dir / STDERR},
            data={
                "container_id": cid,
                "state_root": str(runc.root),
                "runtime": spec.runtime,
                "cgroups_path": f"/yun/{cid}",
                "starttime": _starttime(pid) or 0,
                "hooks": bool(spec.pre_running) and spec.image is None,
                "netns": netns,
                "disk_mb": spec.disk_mb,
                "image": spec.image is not None,
                "id_base": id_base,
            },
            ports=ports,
        )

    def _id_base(self, spec: InstanceSpec) -> int | None:
        """The host id of the instance's root, when it gets a user namespace of its own (under
        runc; gVisor's sandbox keeps the host's ids)."""
        if not self.user_namespaces:
            return None
        return ID_BASE if spec.runtime == DEFAULT_RUNTIME else None

    def keep_staged(self, droplet: Path, *, tree: Path, root: Path) -> None:
        """Park the staged tree beside the droplet cache under `root`: the droplet's next start
        (its release phase or first instance) takes it instead of unpacking or copying."""
        park_staged(droplet, root / DROPLET_CACHE, tree=tree)

    def _environment(
        self, spec: InstanceSpec, env: Mapping[str, str], *, address: str, port: int
    ) -> dict[str, str]:
        full_env = dict(env)
        placement = placement_environment(
            home=Path(APP_DIR),
            deps_dir=Path(DEPS_DIR),
            tmpdir=Path("/tmp"),
            ip=address,
            port=port,
        )
        if spec.image is not None:  # the image's own HOME and layout stay as they are
            for name in ("HOME", "DEPS_DIR"):
                placement.pop(name)
            full_env.update(placement)
            return full_env
        full_env.update(placement)
        full_env["YUN_EXIT_FILE"] = f"{STATUS_DIR}/{EXIT_FILE}"
        if spec.pre_running:
            full_env["YUN_COMMAND"] = spec.command
            full_env["YUN_RUN_DIR"] = STATUS_DIR
            for number, hook in enumerate(spec.pre_running):
                full_env[f"YUN_PRE_RUNNING_{number}"] = hook
        return full_env

    def _write_bundle(
        self,
        spec: InstanceSpec,
        run_dir: Path,
        *,
        cid: str,
        env: Mapping[str, str],
        address: str,
        dns: tuple[str, ...],
        credentials: Path | None,
    ) -> None:
        hostname = (env.get("CF_INSTANCE_GUID") or run_dir.name)[:63]  # the kernel's limit
        stack = _stack(spec.stack_root)
        id_base = self._id_base(spec)
        trust: Path | None = None
        if credentials is not None:
            owner_of(credentials, (id_base or 0) + VCAP_UID, (id_base or 0) + VCAP_GID)
            with contextlib.suppress(OSError):
                ca_pem = (credentials / CA_FILE).read_text()
                trust = trust_store_with(stack, ca_pem, run_dir / "ca-certificates.crt")
        if dns:  # our own resolv.conf replaces the host's
            stack = replace(stack, binds=[b for b in stack.binds if b != "/etc/resolv.conf"])
        make_rootfs(run_dir / "rootfs", stack=stack, hostname=hostname, address=address, dns=dns)
        if id_base is not None:  # its mount points are made by its root, host id `id_base`
            chown_tree(run_dir / "rootfs", id_base, id_base)
            for source in (run_dir, stack.root, self.launcher, credentials):
                if source is not None:
                    searchable(source)
        command = HOOK_RUNNER if spec.pre_running else spec.command
        config = container_config(
            ContainerSpec(
                hostname=hostname,
                args=["/bin/bash", LAUNCHER, command],
                env=env,
                app_dir=run_dir / "app",
                deps_dir=run_dir / "deps",
                status_dir=run_dir / "status",
                launcher=self.launcher,
                memory_mb=spec.memory_mb,
                cgroups_path=f"/yun/{cid}",
                stack=stack,
                rootfs=run_dir / "rootfs",
                netns=netns_path(netns_name(cid)) if self.network is not None else None,
                swap_limit=swap_accounting(),
                credentials=credentials,
                trust_store=trust,
                id_base=id_base,
                gvisor=spec.runtime != DEFAULT_RUNTIME,
            )
        )
        write_config(run_dir, config)

    def _write_image_bundle(
        self,
        spec: InstanceSpec,
        image: ImageSpec,
        run_dir: Path,
        *,
        cid: str,
        env: Mapping[str, str],
        address: str,
        dns: tuple[str, ...],
        credentials: Path | None,
    ) -> None:
        hostname = (env.get("CF_INSTANCE_GUID") or run_dir.name)[:63]
        paths = image_mounts(run_dir)
        uid, gid = resolve_user(image.rootfs, image.user)
        id_base = self._id_base(spec)
        if id_base is not None and max(uid, gid) >= ID_RANGE:
            raise ImageRunError(
                f"image user {image.user!r} ({uid}:{gid}) is beyond the {ID_RANGE} ids"
                " a container maps"
            )
        host_uid, host_gid = (id_base or 0) + uid, (id_base or 0) + gid
        if credentials is not None:
            owner_of(credentials, host_uid, host_gid)
        search = {**image.env, **env}.get("PATH", "")
        program = resolve_program(image.rootfs, image.argv[0], search, image.working_dir)
        paths.status_dir.mkdir(mode=0o755)
        os.chown(paths.status_dir, host_uid, host_gid)
        write_etc(paths, hostname=hostname, address=address, dns=dns)
        lower = image.rootfs
        if id_base is not None:
            lower = shifted_root(image.rootfs, id_base)
            _give_logs(run_dir, host_uid)
            paths.upper.mkdir(mode=0o755)  # the root folder's owner is the upper layer's
            root = lower.stat()
            os.chown(paths.upper, root.st_uid, root.st_gid)
            for source in (run_dir, credentials):
                if source is not None:
                    searchable(source)
        mount_overlay(lower, paths)
        config = image_config(
            ImageContainer(
                hostname=hostname,
                image=image,
                env=env,
                uid=uid,
                gid=gid,
                program=program,
                memory_mb=spec.memory_mb,
                cgroups_path=f"/yun/{cid}",
                paths=paths,
                status_file=f"{LIFECYCLE}/status/{EXIT_FILE}",
                netns=netns_path(netns_name(cid)),
                swap_limit=swap_accounting(),
                credentials=credentials,
                gvisor=spec.runtime != DEFAULT_RUNTIME,
                id_base=id_base,
            )
        )
        write_config(run_dir, config)

    def _release_network(self, cid: str, netns: str | None) -> None:
        if netns is None:
            return
        if self.network is not None:
            try:
                self.network.detach(cid, netns_path(netns))
            finally:
                delete_netns(netns)
        else:
            delete_netns(netns)

    # -- watching ---------------------------------------------------------------------------

    def alive(self, handle: Handle) -> bool:
        if not self._init_alive(handle):
            return False
        if self._over_disk_quota(handle):
            (handle.run_dir / DISK_EXCEEDED).touch()
            self._kill_and_wait(handle, grace=0.0)
            return False
        return True

    def exit_fd(self, handle: Handle) -> int | None:
        """None: `alive` also enforces the disk quota, so the agent asks it every pass."""
        return None

    def _init_alive(self, handle: Handle) -> bool:
        if handle.pid is None:
            return False
        started = _starttime(handle.pid)
        return started is not None and started == int(handle.data.get("starttime", 0))

    def _over_disk_quota(self, handle: Handle) -> bool:
        """Measure at most every `disk_check_interval`: walking a big app dir is not free."""
        cid = str(handle.data.get("container_id"))
        now = time.monotonic()
        with self._lock:
            if now - self._disk_checked.get(cid, -float("inf")) < self.disk_check_interval:
                return False
            self._disk_checked[cid] = now
        limit = int(handle.data.get("disk_mb") or 0) * MIB
        return limit > 0 and self._disk_bytes(handle) > limit

    def _disk_bytes(self, handle: Handle) -> int:
        if handle.data.get("image"):  # what the instance wrote over its image
            return disk_usage([image_mounts(handle.run_dir).upper])
        return disk_usage([handle.run_dir / "app", handle.run_dir / "deps"])

    def ready(self, handle: Handle) -> bool:
        return not handle.data.get("hooks") or (handle.run_dir / "status" / HOOKS_DONE).exists()

    def exit_status(self, handle: Handle) -> ExitStatus:
        code: int | None = None
        with contextlib.suppress(OSError, ValueError):
            code = int((handle.run_dir / "status" / EXIT_FILE).read_text().strip())
        if (handle.run_dir / DISK_EXCEEDED).exists():
            return ExitStatus(code, "disk quota exceeded")
        if code in (None, 137) and self._oom_killed(handle):
            return OUT_OF_MEMORY
        if (handle.run_dir / "status" / HOOK_FAILED).exists():
            return ExitStatus(code, "pre-running hook failed")
        if code is None:
            return ExitStatus(None, "exited (status unknown)")
        return ExitStatus(code, _describe(code))

    def _oom_killed(self, handle: Handle) -> bool:
        """From the cgroup while it exists, remembered in the run dir for after `runc delete`."""
        marker = handle.run_dir / OOM_KILLED
        if marker.exists():
            return True
        path = handle.data.get("cgroups_path")
        if path and Cgroup(str(path)).oom_killed():
            with contextlib.suppress(OSError):
                marker.touch()
            return True
        return False

    def usage(self, handle: Handle, *, disk: bool = True) -> Usage | None:
        """The cgroup's working set (None once the cgroup is gone) and the quota'd disk bytes."""
        path = handle.data.get("cgroups_path")
        memory = Cgroup(str(path)).memory_usage() if path else None
        return Usage(memory_bytes=memory, disk_bytes=self._disk_bytes(handle) if disk else None)

    def cpu_seconds(self, handle: Handle) -> float | None:
        path = handle.data.get("cgroups_path")
        return Cgroup(str(path)).cpu_seconds() if path else None

    # -- stopping ---------------------------------------------------------------------------

    def signal(self, handle: Handle, signum: int) -> None:
        """Signal the container's first process (the launcher passes TERM/HUP/INT on)."""
        if self._init_alive(handle):
            self._runc(handle).kill(str(handle.data["container_id"]), signum)

    def stop(self, handle: Handle, *, grace: float) -> None:
        self._kill_and_wait(handle, grace=grace)
        if not self._init_alive(handle):
            self._oom_killed(handle)  # note it before the cgroup goes
        cid = handle.data.get("container_id")
        if cid:
            self._runc(handle).delete(str(cid))

    def _kill_and_wait(self, handle: Handle, *, grace: float) -> None:
        if grace > 0 and self._init_alive(handle):
            self.signal(handle, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while self._init_alive(handle) and time.monotonic() < deadline:
                time.sleep(STOP_POLL)
        if self._init_alive(handle):
            self.signal(handle, signal.SIGKILL)
            deadline = time.monotonic() + 5.0
            while self._init_alive(handle) and time.monotonic() < deadline:
                time.sleep(STOP_POLL)

    def remove(self, handle: Handle) -> None:
        cid = str(handle.data.get("container_id") or "")
        if cid:
            with contextlib.suppress(RuncError):
                self._runc(handle).delete(cid)
        netns = handle.data.get("netns")
        self._release_network(cid, str(netns) if netns else None)
        with contextlib.suppress(ImageRunError):
            unmount_overlay(image_mounts(handle.run_dir))
        shutil.rmtree(handle.run_dir, ignore_errors=True)
        for port in (handle.port, *handle.ports.values()):
            self._ports.release(port, handle.run_dir)
        if handle.data.get("runtime", DEFAULT_RUNTIME) != DEFAULT_RUNTIME:
            self._unpin_null_netns()
        with self._lock:
            self._disk_checked.pop(cid, None)

    def sweep(self, keep: Sequence[Handle]) -> list[str]:
        """Delete containers of this driver's runc root that no kept handle names (with their
        network), then release addresses held for containers that are gone. Stagings' own
        attachments (`runc_staging.SESSION_PREFIX`) are theirs to release."""
        alive = {str(cid) for h in keep if (cid := h.data.get("container_id"))}
        removed: list[str] = []
        runtimes = [self._runc()]
        if self.runsc_binary is not None:
            runtimes.append(self._runc(runtime="gvisor"))
        for runc in runtimes:
            try:
                states = runc.list() if runc.root.is_dir() else []
            except (RuncError, OSError, ValueError) as exc:
                log.warning("cannot list containers to sweep: %s", exc)
                states = []
            for state in states:
                if state.id in alive:
                    continue
                try:
                    runc.delete(state.id)
                    netns = netns_name(state.id) if self.network else None
                    self._release_network(state.id, netns)
                except (RuncError, OSError, RuntimeError) as exc:
                    log.warning("could not remove stale container %s: %s", state.id, exc)
                    continue
                removed.append(state.id)
        self._unpin_null_netns()
        if self.network is not None:
            try:
                released = self.network.release_stale(alive, keep_prefixes=(SESSION_PREFIX,))
            except RuntimeError as exc:
                log.warning("could not release stale addresses: %s", exc)
            else:
                removed += [cid for cid in released if cid not in removed]
        return removed

    def _unpin_null_netns(self) -> None:
        """Once no gVisor container is left, unmount the empty network namespace runsc pins in
        its state root for its gofers (runsc leaves it, and a mount there keeps the platform's
        folder from being removed)."""
        if self.runsc_binary is None:
            return
        runsc = self._runc(runtime="gvisor")
        try:
            if not runsc.root.is_dir() or runsc.list():
                return
        except (RuncError, OSError, ValueError):
            return
        pinned = runsc.root / NULL_NETNS
        while pinned.exists() and _unmount(pinned):
            pass

    # -- persistence ------------------------------------------------------------------------

    def to_dict(self, handle: Handle) -> dict[str, Any]:
        return handle_to_dict(handle)

    def adopt(self, saved: Mapping[str, Any]) -> Handle | None:
        try:
            handle = handle_from_dict(saved)
        except (KeyError, TypeError, ValueError):
            return None
        if not handle.data.get("container_id") or not handle.run_dir.is_dir():
            return None
        try:
            state = self._runc(handle).state(str(handle.data["container_id"]))
        except RuncError:  # its runtime is gone from this machine: nobody can tell
            state = None
        if state is None or state.status not in ("running", "paused") or state.pid != handle.pid:
            # Gone (reboot, someone deleted it) or stopped: dead, and `alive` will say so.
            handle = replace(handle, pid=None)
        if self.network is None:
            for port in (handle.port, *handle.ports.values()):
                if port is not None:
                    self._ports.hold(port, handle.run_dir)
        return handle

    # -- explaining -------------------------------------------------------------------------

    def listening_ports(self, handle: Handle) -> set[int]:
        """Every listening TCP port of the container's own network namespace; without one
        (host networking), those of the sockets its processes (its cgroup's) hold. gVisor's
        sockets are its own network stack's, which the host does not see: its kernel's table,
        read inside the sandbox."""
        if handle.pid is None or not self._init_alive(handle):
            return set()
        if handle.data.get("runtime", DEFAULT_RUNTIME) != DEFAULT_RUNTIME:
            cid = str(handle.data["container_id"])
            tables = self._runc(handle).read(cid, *(f"/proc/net/{name}" for name in TABLES))
            return set(listening_sockets(tables).values())
        if handle.data.get("netns"):
            return ports_of_namespace(handle.pid)
        pids = [handle.pid]
        path = handle.data.get("cgroups_path")
        if path:
            with contextlib.suppress(OSError, ValueError):
                procs = (Cgroup(str(path)).memory_dir / "cgroup.procs").read_text().split()
                pids = [int(pid) for pid in procs] or pids
        return ports_of_processes(pids)


def _give_logs(run_dir: Path, uid: int) -> None:
    """Make the instance's two log files its app's (host `uid`) before runc opens them: an
    app that reopens them (`/dev/stdout`, as nginx does its log) must own them, and runc
    cannot give them across a user namespace."""
    for name in (STDOUT, STDERR):
        (run_dir / name).touch(mode=0o640)
        os.chown(run_dir / name, uid, 0)


def _unmount(path: Path) -> bool:
    """Detach the mount at `path`; False when nothing (more) is mounted there."""
    done = subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
    return done.returncode == 0


def _stack(stack_root: Path | None) -> Stack:
    """The host's userland, or the stack built at `stack_root` (a `current` link, read once
    here so that a rebuilt stack reaches only instances started after it)."""
    if stack_root is None:
        return host_stack()
    root = stack_root.resolve()
    if not (root / "usr").is_dir():
        raise RuncError(
            f"the stack at {stack_root} is not built (build it with `yun stack update"
            f" {stack_root.parent.parent.name}`)"
        )
    return built_stack(root)
