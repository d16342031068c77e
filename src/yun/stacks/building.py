"""Building stacks with mmdebstrap, and finding the built ones.

Layout under the stacks folder (`$YUN_HOME/stacks`, or `YUN_STACKS_DIR`, which tests point at a
cache shared by every run on the machine):

    NAME/current        -> a build's folder (relative symlink, switched atomically)
    NAME/BUILD/rootfs   the Debian root filesystem, read-only inside containers
    NAME/BUILD/info.json   suite, runtime versions read from dpkg's database, size, seconds
    NAME/build.log      everything mmdebstrap printed during the last build
    NAME/.lock          one build of a stack at a time (flock), across processes

A rebuild (`yun stack update`) makes a new BUILD beside the current one and switches `current`
when it is complete, so running instances keep the root they started on. The build before the
current one is kept for them; older ones are removed.

Docs and man pages are left out of the root (dpkg path excludes, as Debian's slim images do);
/usr/share/man/man1 must still exist for update-alternatives (the JDK's postinst writes links
there).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yun.stacks.catalog import STACKS, StackDefinition
from yun.stacks.versions import runtime_versions

Output = Callable[[str], None]

LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
BUILD_TIMEOUT = 30 * 60.0
_DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/info/*",
)


_NEUTRAL_ETC = {
    "hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    "hostname": "localhost\n",
    "resolv.conf": "",
}

_MOUNT_POINTS_ETC = ("pip.conf", "xdg/pip/pip.conf")


class StackBuildError(RuntimeError):
    """mmdebstrap failed or is missing; the message says which and where the log is."""


@dataclass(frozen=True)
class BuiltStack:
    name: str
    rootfs: Path
    info: dict[str, Any]


class StackStore:
    """The stacks folder: what is built, and building what is not."""

    def __init__(
        self,
        root: Path,
        *,
        mirror: str = DEFAULT_MIRROR,
        security_mirror: str = DEFAULT_SECURITY_MIRROR,
    ) -> None:
        self.root = root
        self.mirror = mirror
        self.security_mirror = security_mirror

    def built(self, name: str) -> BuiltStack | None:
        current = self.root / name / "current"
        info_file = current / "info.json"
        if not info_file.is_file():
            return None
        try:
            info: dict[str, Any] = json.loads(info_file.read_text())
        except (OSError, ValueError):
            return None
        return BuiltStack(name=name, rootfs=current.resolve() / "rootfs", info=info)

    def log_path(self, name: str) -> Path:
        return self.root / name / "build.log"

    def ensure(self, name: str, *, output: Output) -> BuiltStack:
        """The built stack `name`, built first if it is not (once, whoever else asks)."""
        found = self.built(name)
        if found is not None:
            return found
        with self._locked(name):
            found = self.built(name)  # built by another process while this one waited
            if found is not None:
                return found
            return self._build(_definition(name), output=output)

    def rebuild(self, name: str, *, output: Output) -> BuiltStack:
        with self._locked(name):
            return self._build(_definition(name), output=output)

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _build(self, definition: StackDefinition, *, output: Output) -> BuiltStack:
        if shutil.which("mmdebstrap") is None:
            raise StackBuildError("building stacks needs mmdebstrap (apt-get install mmdebstrap)")
        if os.geteuid() != 0:
            raise StackBuildError(f"building the stack {definition.name} needs root")
        folder = self.root / definition.name
        build_id = _build_id()
        build_dir = folder / build_id
        partial = folder / f".{build_id}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        log = self.log_path(definition.name)
        output(f"Building stack {definition.name} (Debian {definition.suite}) with mmdebstrap")
        output(f"Build log: {log}")
        started = time.monotonic()
        try:
            self._mmdebstrap(definition, partial / "rootfs", log=log, output=output)
            _neutral_etc(partial / "rootfs" / "etc")
            _trust_local_authorities(partial / "rootfs", log=log, output=output)
            info = {
                "name": definition.name,
                "suite": definition.suite,
                "description": definition.description,
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "seconds": round(time.monotonic() - started, 1),
                "size_bytes": _size(partial / "rootfs"),
                "runtimes": runtime_versions(partial / "rootfs"),
                "packages": list(definition.packages),
            }
            (partial / "info.json").write_text(json.dumps(info, indent=2) + "\n")
            partial.rename(build_dir)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        _switch(folder / "current", build_id)
        _prune(folder, keep={build_id, *_previous(folder, build_id)})
        output(f"Stack {definition.name} built in {info['seconds']} s")
        return BuiltStack(name=definition.name, rootfs=build_dir / "rootfs", info=info)

    def _mmdebstrap(
        self, definition: StackDefinition, target: Path, *, log: Path, output: Output
    ) -> None:
        argv = [
            "mmdebstrap",
            "--variant=apt",
            "--mode=root",
            "--format=directory",
            f"--include={','.join(definition.packages)}",
            *(f"--dpkgopt={option}" for option in _DPKG_OPTIONS),
            '--essential-hook=mkdir -p "$1/usr/share/man/man1"',
        ]
        if not definition.check_valid_until:
            argv.append('--aptopt=Acquire::Check-Valid-Until "false"')
        argv += [definition.suite, str(target), *self._sources(definition)]
        with log.open("w") as log_file:
            log_file.write(" ".join(argv) + "\n")
            log_file.flush()
            with subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            ) as process:
                assert process.stdout is not None
                deadline = time.monotonic() + BUILD_TIMEOUT
                for line in process.stdout:
                    log_file.write(line)
                    if line.startswith(("I: ", "E: ")):
                        output(line.rstrip())
                    if time.monotonic() > deadline:
                        process.kill()
                code = process.wait()
        if code != 0:
            raise StackBuildError(
                f"mmdebstrap failed to build the stack {definition.name} (exit {code}); see {log}"
            )

    def _sources(self, definition: StackDefinition) -> list[str]:
        """The suite's archive, and for released suites its updates and security archives."""
        sources = [f"deb {self.mirror} {definition.suite} main"]
        if definition.check_valid_until:
            sources.append(f"deb {self.mirror} {definition.suite}-updates main")
            sources.append(f"deb {self.security_mirror} {definition.suite}-security main")
        return sources


def _build_id() -> str:
    """Builds sort by name in the order they were made."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime())


def _neutral_etc(etc: Path) -> None:
    """The files each container gets its own of must exist in the stack (runc mounts over
    them; it cannot create them in a read-only /etc) and hold nothing of the build host's."""
    for name, text in _NEUTRAL_ETC.items():
        (etc / name).write_text(text)
    for name in _MOUNT_POINTS_ETC:  # the host's pip configuration is shown to stagings here
        (etc / name).parent.mkdir(parents=True, exist_ok=True)
        (etc / name).touch()


def local_authorities() -> list[Path]:
    """The certificate authorities this machine's administrator added (Debian's place for
    them): a company's own CA, or the one of a TLS-inspecting proxy."""
    if not LOCAL_CA_DIR.is_dir():
        return []
    return sorted(path for path in LOCAL_CA_DIR.rglob("*.crt") if path.is_file())


def _trust_local_authorities(rootfs: Path, *, log: Path, output: Output) -> None:
    """Apps and stagings trust what the host trusts, as Cloud Foundry's trusted system
    certificates do: the host's added CAs go into the stack's bundle."""
    found = local_authorities()
    if not found:
        return
    output(f"Adding {len(found)} certificate authorities of this machine ({LOCAL_CA_DIR})")
    target = rootfs / LOCAL_CA_DIR.relative_to("/")
    for path in found:
        destination = target / path.relative_to(LOCAL_CA_DIR)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    with log.open("a") as log_file:
        done = subprocess.run(
            ["chroot", str(rootfs), "update-ca-certificates"],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=False,
        )
    if done.returncode != 0:
        raise StackBuildError(f"update-ca-certificates failed in the stack; see {log}")


def _definition(name: str) -> StackDefinition:
    try:
        return STACKS[name]
    except KeyError:
        raise StackBuildError(
            f"no stack named {name!r} (stacks: {', '.join(sorted(STACKS))})"
        ) from None


def _switch(link: Path, build_id: str) -> None:
    fresh = link.with_name(f".current-{os.getpid()}")
    fresh.unlink(missing_ok=True)
    fresh.symlink_to(build_id)
    fresh.replace(link)


def _previous(folder: Path, build_id: str) -> list[str]:
    builds = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name[0].isdigit())
    older = [name for name in builds if name < build_id]
    return older[-1:]


def _prune(folder: Path, *, keep: set[str]) -> None:
    for path in folder.iterdir():
        built = path.is_dir() and not path.is_symlink() and path.name[0].isdigit()
        if built and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def _size(root: Path) -> int:
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(directory, name)).st_blocks * 512
    return total
