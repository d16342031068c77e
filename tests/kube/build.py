"""The Kubernetes control plane for the tests, built once per machine from upstream Go modules.

`tests/kube/gomod/go.mod` pins Kubernetes `RELEASE` (every k8s.io staging module at that
release) and the etcd it names; kube-apiserver, kube-controller-manager, kube-scheduler and
etcd are built from it; KWOK (simulated nodes) from its own module at `KWOK`; the Gateway API's
standard CRDs are copied from its module at `GATEWAY_API`, and KWOK's own "fast" stages (a node
is Ready at once, a pod Running with an IP) from its module. Everything lands in
`/var/cache/yun-test/kube-KEY/` (KEY: those versions; `YUN_TEST_KUBE_DIR` points elsewhere), is
built under a lock (several test processes may ask at once) and is reused by every test and CI
run. `python -m tests.kube.build` builds it and prints how long each part took.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

RELEASE = "v1.36.3"
KWOK = "v0.8.0"
GATEWAY_API = "v1.5.1"
GOMOD = Path(__file__).resolve().parent / "gomod"
CONTROL_PLANE = {
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "etcd": "go.etcd.io/etcd/server/v3",
}
PROGRAMS = (*CONTROL_PLANE, "kwok")
BUILD_TIMEOUT = 3600
GATEWAY_CRDS = ("config/crd/standard/*.yaml",)
KWOK_STAGES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat/node-heartbeat.yaml",
    "kustomize/stage/pod/fast/pod-*.yaml",
)


class BuildError(RuntimeError):
    """A part could not be built; the message names it and ends with the tool's output."""


def kube_dir() -> Path:
    explicit = os.environ.get("YUN_TEST_KUBE_DIR")
    key = f"{RELEASE}-kwok-{KWOK}-gateway-{GATEWAY_API}"
    return Path(explicit) if explicit else Path(f"/var/cache/yun-test/kube-{key}")


def built() -> Path | None:
    """The cache folder when everything is built there, else None."""
    root = kube_dir()
    ready = all((root / "bin" / name).is_file() for name in PROGRAMS)
    return root if ready and (root / "stages").is_dir() else None


def build(say: Callable[[str], None] = print) -> Path:
    """Build what is missing into the cache folder; the folder."""
    root = kube_dir()
    if built() is not None:
        return root
    if shutil.which("go") is None:
        raise BuildError("building Kubernetes needs the Go toolchain (go), which is not on PATH")
    root.mkdir(parents=True, exist_ok=True)
    with (root / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if built() is not None:
            return root
        took = {}
        started = time.monotonic()
        staging = root / "bin.new"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for name, package in CONTROL_PLANE.items():
            say(f"building {name} ({package}, Kubernetes {RELEASE})")
            step = time.monotonic()
            flags = ["-trimpath", "-ldflags", _ldflags(name)]
            _go(["build", *flags, "-o", str(staging / name), package])
            with (staging / name).open("rb") as made:
                program = made.read(4) == b"\x7fELF"
            if not program:
                raise BuildError(f"go build {package} made no program (not a main package?)")
            took[name] = round(time.monotonic() - step, 1)
        say(f"building kwok (sigs.k8s.io/kwok {KWOK})")
        step = time.monotonic()
        _go(
            ["install", f"sigs.k8s.io/kwok/cmd/kwok@{KWOK}"],
            extra={"GOBIN": str(staging)},
            cwd=root,
        )
        took["kwok"] = round(time.monotonic() - step, 1)
        _copy(f"sigs.k8s.io/gateway-api@{GATEWAY_API}", GATEWAY_CRDS, root / "crds")
        _copy(f"sigs.k8s.io/kwok@{KWOK}", KWOK_STAGES, root / "stages")
        shutil.rmtree(root / "bin", ignore_errors=True)
        staging.rename(root / "bin")
        took["total"] = round(time.monotonic() - started, 1)
        (root / "build-times.json").write_text(json.dumps(took, indent=2) + "\n")
        say(f"built into {root} in {took['total']} s: {took}")
    return root


def _ldflags(name: str) -> str:
    """Strip symbols; Kubernetes binaries say their release (as `make` would stamp it)."""
    if name == "etcd":
        return "-s -w"
    major, minor = RELEASE.removeprefix("v").split(".")[:2]
    stamps = {
        "gitVersion": RELEASE,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
    }
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.{key}={value}" for key, value in stamps.items()]
    return " ".join(flags)


def _go(args: list[str], *, extra: dict[str, str] | None = None, cwd: Path = GOMOD) -> str:
    env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    done = subprocess.run(
        ["go", *args],
        cwd=cwd,
        env={**env, **(extra or {})},
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"go {' '.join(args)} failed:\n{done.stderr[-4000:]}")
    return done.stdout


def _copy(module: str, files: tuple[str, ...], target: Path) -> None:
    """Files of a Go module (as the module proxy serves it) into `target`."""
    found = json.loads(_go(["mod", "download", "-json", module], cwd=target.parent))
    source = Path(found["Dir"])
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for pattern in files:
        matched = sorted(source.glob(pattern))
        if not matched:
            raise BuildError(f"{module} has no {pattern}")
        for path in matched:
            shutil.copyfile(path, target / path.name)


if __name__ == "__main__":
    try:
        print(build(lambda line: print(line, flush=True)))
    except BuildError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
