"""gVisor's `runsc`: the runtime of instances whose space or app asks for `gvisor`.

runsc takes the same OCI bundle and the same command line as runc (`run --detach`, `state`,
`kill`, `delete`), but the app's system calls are served by gVisor's own kernel (the Sentry,
a user-space process) instead of the host's, so a kernel bug the app could reach is not the
host's. Yun builds it from gVisor's Go module at the version `go.mod` here pins (its
Go-buildable branch), once per machine, with the machine's Go toolchain, into a cache outside
the repository and outside any `YUN_HOME` (`python -m yun.agent.runsc`, which `make runsc`
and `make test` run). It must be a static program: runsc runs itself again inside the
sandbox's empty root, where no shared library is.

Where the platform looks (`find`): `$YUN_RUNSC`, then that cache, then `runsc` on PATH.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

MODULE = "gvisor.dev/gvisor"
VERSION = "v0.0.0-20260905035102-160fafc42237"  # as go.mod pins it
PACKAGE = f"{MODULE}/runsc"
HERE = Path(__file__).resolve().parent
CACHE = Path("/var/cache/yun")
BUILD_TIMEOUT = 1800
# Global flags of every runsc call: the bundle's seccomp allow-list is applied inside the
# sandbox too (runsc ignores it otherwise; gVisor's own filter guards the host either way).
FLAGS = ("--oci-seccomp",)


class BuildError(RuntimeError):
    """runsc could not be built; the message ends with the Go toolchain's output."""


def cache_dir() -> Path:
    return CACHE / f"runsc-{VERSION}"


def find() -> Path | None:
    """The runsc program to run gVisor instances with, or None when there is none."""
    explicit = os.environ.get("YUN_RUNSC")
    if explicit:
        return Path(explicit) if os.access(explicit, os.X_OK) else None
    built = cache_dir() / "runsc"
    if os.access(built, os.X_OK):
        return built
    on_path = shutil.which("runsc")
    return Path(on_path) if on_path else None


def missing() -> str | None:
    """Why gVisor instances cannot run on this machine, or None when they can."""
    if os.geteuid() != 0:
        return "gVisor needs root (runsc sets up the sandbox's namespaces and cgroup)"
    if find() is None:
        return "runsc is not built on this machine: build it with `make runsc` (needs Go)"
    return None


def build(say: Callable[[str], None] = print) -> Path:
    """Build runsc into the cache unless it is there; the program. Under a lock, so that of
    several processes asking at once one builds and the others wait for it."""
    target = cache_dir() / "runsc"
    if target.is_file():
        return target
    if shutil.which("go") is None:
        raise BuildError("building runsc needs the Go toolchain (go), which is not on PATH")
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            return target
        say(f"building runsc ({MODULE} {VERSION}) into {target.parent}")
        started = time.monotonic()
        partial = target.with_name("runsc.new")
        flags = ["-trimpath", "-ldflags", "-s -w"]
        done = subprocess.run(
            ["go", "build", *flags, "-o", str(partial), PACKAGE],
            cwd=HERE,
            # static: CGO off; this go.mod's toolchain, never one fetched from elsewhere
            env={**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": ""},
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            raise BuildError(f"go build {PACKAGE} failed:\n{done.stderr[-4000:]}")
        partial.rename(target)
        say(f"built runsc in {time.monotonic() - started:.0f} s")
    return target
