"""Staging containers: runc's side of the builder's sandbox (`yun.builder.sandboxing`).

A staging runs other people's code (buildpacks, hooks). With the runc driver every child of a
staging is a throwaway container: the read-only host stack as its root, only the staging's work
folder and the app's buildpack cache writable (bind-mounted at their host paths, so buildpacks
get the paths the contract names), a private /tmp, the unprivileged `vcap` user without
capabilities, memory, CPU share and pids limits, and — with a container network — its own
network namespace on the bridge: outbound traffic (package indexes) is NATed, the host's own
services (the API, HAProxy's sockets) are out of reach, as for instances.

Like an instance, a staging has a user namespace (`oci.ID_BASE`): its `vcap` is host id
`ID_BASE + 2000`, which the writable folders are given to before each step, and its root
`ID_BASE`, which owns the root filesystem's skeleton. A step's output pipes are runc's own in
the foreground (made for the container's root and handed to its user), so a script may reopen
them (`> /dev/stderr`).

One session per staging holds the root filesystem and the network namespace; each child is
`runc run` in the foreground, so its output streams through runc's pipes while it runs. Nothing
of a session outlives it; `sweep` removes what a server killed mid-staging left behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from yun.agent.drivers.cgroups import swap_accounting
from yun.agent.drivers.oci import (
    ID_BASE,
    OCI_VERSION,
    VCAP_GID,
    VCAP_UID,
    Stack,
    bind,
    built_stack,
    host_stack,
    kernel_mounts,
    limits,
    linux,
    process,
    stack_mounts,
)
from yun.agent.drivers.runc_bundle import chown_tree, make_rootfs, searchable, write_config
from yun.agent.drivers.runc_cli import Runc, RuncError, last_error
from yun.agent.drivers.runc_network import ContainerNetwork, create_netns, delete_netns, netns_name
from yun.agent.drivers.runc_network import netns_path as named_netns_path

log = logging.getLogger(__name__)

STAGING_MEMORY_MB = 1024  # Cloud Foundry's default staging memory
SESSION_PREFIX = "yun-stg-"
STAGING_HOME = "/tmp"  # HOME for tools that keep dot-files (npm, git) when HOME is the host's


def session_id(name: str) -> str:
    """A short runc- and CNI-safe id for the staging called `name`."""
    return SESSION_PREFIX + hashlib.sha256(name.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class StepConfig:
    """What one child of a staging needs in its `config.json`."""

    hostname: str
    rootfs: Path
    args: Sequence[str]
    env: Mapping[str, str]
    cwd: Path
    stack: Stack
    writable: Sequence[Path]
    readable: Sequence[Path]
    memory_mb: int
    cgroups_path: str
    netns: Path | None
    swap_limit: bool = True
    id_base: int | None = None  # host id of the container's root (a user namespace); None: none


def step_config(step: StepConfig) -> dict[str, Any]:
    """The OCI config of one staging child, as a pure function (unit-tested without root)."""
    mounts = kernel_mounts(step.memory_mb, own_users=step.id_base is not None)
    mounts += stack_mounts(step.stack, rootfs=step.rootfs)
    mounts += [bind(path, writable=False) for path in step.readable]
    mounts += [bind(path, writable=True) for path in step.writable]
    return {
        "ociVersion": OCI_VERSION,
        "root": {"path": str(step.rootfs), "readonly": True},
        "hostname": step.hostname,
        "process": process(
            uid=VCAP_UID,
            gid=VCAP_GID,
            args=step.args,
            env=container_env(step.env, writable=step.writable),
            cwd=str(step.cwd),
        ),
        "mounts": mounts,
        "linux": linux(
            cgroups_path=step.cgroups_path,
            resources=limits(step.memory_mb, swap_limit=step.swap_limit),
            netns=step.netns,
            id_base=step.id_base,
        ),
    }


def container_env(env: Mapping[str, str], *, writable: Sequence[Path]) -> dict[str, str]:
    """The staging environment as the container's user sees it: HOME and TMPDIR must be
    writable there (the host's `/root` is not even visible)."""
    result = dict(env)
    home = Path(result.get("HOME") or "/")
    if not any(home == path or path in home.parents for path in writable):
        result["HOME"] = STAGING_HOME
    result["TMPDIR"] = "/tmp"
    result["USER"] = result["LOGNAME"] = "vcap"
    return result


def give_to_vcap(paths: Sequence[Path], id_base: int = 0) -> None:
    """Hand every entry below `paths` that is not the container user's yet (host id
    `id_base + VCAP_UID`) over to it: what the host created since the last step, the copied
    app, new cache and deps folders."""
    uid, gid = id_base + VCAP_UID, id_base + VCAP_GID
    for top in paths:
        if top.is_file():
            continue
        _own(top, uid, gid)
        for directory, subdirs, files in os.walk(top):
            for name in (*subdirs, *files):
                _own(Path(directory, name), uid, gid)


def _own(path: Path, uid: int, gid: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.lstat().st_uid != uid:
            os.lchown(path, uid, gid)


class RuncStaging:
    """Implements the builder's `Sandbox`: `session(name, writable=…, readable=…)`."""

    def __init__(
        self,
        *,
        state_root: Path,
        runc: str = "runc",
        network: ContainerNetwork | None = None,
        memory_mb: int = STAGING_MEMORY_MB,
        user_namespaces: bool = True,
    ) -> None:
        self.state_root = Path(state_root).absolute()
        self.sessions_dir = self.state_root / "sessions"
        self.runc = Runc(runc, self.state_root / "runc")
        self.network = network
        self.memory_mb = memory_mb
        self.id_base = ID_BASE if user_namespaces else None

    @contextlib.contextmanager
    def session(
        self,
        name: str,
        *,
        writable: Sequence[Path],
        readable: Sequence[Path],
        stack_root: Path | None = None,
    ) -> Iterator[StagingSession]:
        sid = session_id(name)
        directory = self.sessions_dir / sid
        netns: str | None = None
        try:
            if self._left_over(sid):  # a session of the same name must not be in the way
                self._remove(sid)
            directory.mkdir(mode=0o700, parents=True)
            address = "127.0.1.1"
            dns: tuple[str, ...] = ()
            if self.network is not None:
                netns = netns_name(sid)
                lease = self.network.attach(sid, create_netns(netns))
                address, dns = lease.address, tuple(lease.dns)
            stack = host_stack() if stack_root is None else built_stack(stack_root.resolve())
            if dns:
                stack = replace(stack, binds=[b for b in stack.binds if b != "/etc/resolv.conf"])
            make_rootfs(directory / "rootfs", stack=stack, hostname=sid, address=address, dns=dns)
            if self.id_base is not None:  # its mount points are made by its root
                chown_tree(directory / "rootfs", self.id_base, self.id_base)
                for source in (directory / "rootfs", stack.root, *writable, *readable):
                    searchable(Path(source).absolute())
        except OSError as exc:
            self._remove(sid)
            raise RuncError(f"preparing {sid}: {exc}") from exc
        except BaseException:
            self._remove(sid)
            raise
        try:
            yield StagingSession(
                staging=self,
                sid=sid,
                directory=directory,
                stack=stack,
                writable=tuple(Path(p).absolute() for p in writable),
                readable=tuple(Path(p).absolute() for p in readable),
                netns=named_netns_path(netns) if netns else None,
                id_base=self.id_base,
            )
        finally:
            self._remove(sid)

    def sweep(self) -> list[str]:
        """Remove every session a previous server left (it died while staging)."""
        if not self.sessions_dir.is_dir():
            return []
        swept = sorted(p.name for p in self.sessions_dir.iterdir() if p.name.startswith("yun-"))
        for sid in swept:
            self._remove(sid)
        return swept

    def _left_over(self, sid: str) -> bool:
        """Whether an earlier session `sid` left its folder or network namespace (checked
        instead of removing blindly: releasing an address no one holds costs a CNI call)."""
        netns = named_netns_path(netns_name(sid))
        return (self.sessions_dir / sid).exists() or (self.network is not None and netns.exists())

    def _remove(self, sid: str) -> None:
        """Containers, network, namespace and folder of session `sid`; idempotent, never raises
        (a failure is logged and left to the next sweep)."""
        with contextlib.suppress(RuncError, OSError):
            for state in self.runc.list():
                if state.id == sid or state.id.startswith(f"{sid}-"):
                    self.runc.delete(state.id)
        if self.network is not None:
            netns = netns_name(sid)
            try:
                self.network.detach(sid, named_netns_path(netns))
                delete_netns(netns)
            except (RuntimeError, OSError) as exc:
                log.warning("could not release the network of %s: %s", sid, exc)
        shutil.rmtree(self.sessions_dir / sid, ignore_errors=True)


@dataclass
class StagingSession:
    """One staging's containers; implements the builder's `SandboxSession`."""

    staging: RuncStaging
    sid: str
    directory: Path
    stack: Stack
    writable: Sequence[Path]
    readable: Sequence[Path]
    netns: Path | None
    id_base: int | None = None

    def __post_init__(self) -> None:
        self._numbers = itertools.count(1)

    @contextlib.contextmanager
    def command(
        self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]
    ) -> Iterator[list[str]]:
        number = next(self._numbers)
        cid = f"{self.sid}-{number}"
        bundle = self.directory / f"step-{number}"
        runc_log = bundle / "runc.log"
        try:
            bundle.mkdir(mode=0o700)
            give_to_vcap(self.writable, self.id_base or 0)
            config = step_config(
                StepConfig(
                    hostname=self.sid,
                    rootfs=self.directory / "rootfs",
                    args=argv,
                    env=env,
                    cwd=cwd,
                    stack=self.stack,
                    writable=self.writable,
                    readable=self.readable,
                    memory_mb=self.staging.memory_mb,
                    cgroups_path=f"/yun/{cid}",
                    netns=self.netns,
                    swap_limit=swap_accounting(),
                    id_base=self.id_base,
                )
            )
            write_config(bundle, config)
        except OSError as exc:
            raise RuncError(f"preparing {cid}: {exc}") from exc
        runc = self.staging.runc
        runc.root.mkdir(parents=True, exist_ok=True)
        host_argv = [runc.binary, "--root", str(runc.root), "--log", str(runc_log)]
        host_argv += ["--log-format", "json", "run", "--bundle", str(bundle), cid]
        try:
            yield host_argv
        finally:
            error = last_error(runc_log)
            with contextlib.suppress(RuncError):
                runc.delete(cid)  # still there when the step was killed on a timeout
            shutil.rmtree(bundle, ignore_errors=True)
        if error:
            raise RuncError(error)
