"""The Kubernetes control plane for the tests, built once per machine from upstream Go modules.

`tests/kube/gomod/go.mod` pins Kubernetes `RELEASE` (every k8s.io staging module at that
release) and the etcd it names; kube-apiserver, kube-controller-manager, kube-scheduler and
etcd are built from it; KWOK (simulated nodes) from its own module at `KWOK`; the Gateway API's
standard CRDs are copied from its module at `GATEWAY_API`, and KWOK's own "fast" stages (a node
is Ready at once, a pod Running with an IP) from its module. Everything lands in
`/var/cache/yun-test/kube-KEY/` (KEY: those versions; `YUN_TEST_KUBE_DIR` points elsewhere), is
built under a lock (several test processes may ask at once) and is reused by every test and CI
run. `python -m tests.kube.build` builds it and prints how long each part took.

The real node is a second folder, `/var/cache/yun-test/kube-node-KEY/` (`build_node`): the
kubelet from the same release, containerd and its runc shim from `tests/kube/nodemod/go.mod`, the
CNI plugins its pods are wired with (bridge, host-local, loopback), and the pod sandbox's
`pause` program compiled static from `tests/kube/node/pause.c`. runc is the machine's own.
`python -m tests.kube.build --node` builds both.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

RELEASE = "v1.36.3"
KWOK = "v0.8.0"
GATEWAY_API = "v1.5.1"
CONTAINERD = "v2.3.7"
CNI_PLUGINS = "v1.10.0"
HERE = Path(__file__).resolve().parent
GOMOD = HERE / "gomod"
NODEMOD = HERE / "nodemod"
PAUSE_SOURCE = HERE / "node" / "pause.c"
CONTROL_PLANE = {
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "etcd": "go.etcd.io/etcd/server/v3",
}
PROGRAMS = (*CONTROL_PLANE, "kwok")
NODE_PROGRAMS = {
    "kubelet": (GOMOD, "k8s.io/kubernetes/cmd/kubelet"),
    "containerd": (NODEMOD, "github.com/containerd/containerd/v2/cmd/containerd"),
    "containerd-shim-runc-v2": (
        NODEMOD,
        "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
    ),
}
CNI = {
    "bridge": "github.com/containernetworking/plugins/plugins/main/bridge",
    "host-local": "github.com/containernetworking/plugins/plugins/ipam/host-local",
    "loopback": "github.com/containernetworking/plugins/plugins/main/loopback",
}
# containerd's optional snapshotters that need cgo; the node uses overlayfs
CONTAINERD_TAGS = "no_btrfs,no_devmapper,no_zfs"
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


def node_dir() -> Path:
    explicit = os.environ.get("YUN_TEST_KUBE_NODE_DIR")
    key = f"{RELEASE}-containerd-{CONTAINERD}-cni-{CNI_PLUGINS}"
    return Path(explicit) if explicit else Path(f"/var/cache/yun-test/kube-node-{key}")


def node_built() -> Path | None:
    """The node's cache folder when everything is built there, else None."""
    root = node_dir()
    names = [*NODE_PROGRAMS, "pause", *(f"cni/{name}" for name in CNI)]
    return root if all((root / "bin" / name).is_file() for name in names) else None


def built() -> Path | None:
    """The cache folder when everything is built there, else None."""
    root = kube_dir()
    ready = all((root / "bin" / name).is_file() for name in PROGRAMS)
    return root if ready and (root / "stages").is_dir() else None


def build(say: Callable[[str], None] = print) -> Path:
    """Build what is missing into the cache folder; the folder."""
    if built() is None and shutil.which("go") is None:
        raise BuildError("building Kubernetes needs the Go toolchain (go), which is not on PATH")

    def make(staging: Path, took: dict[str, float]) -> None:
        for name, package in CONTROL_PLANE.items():
            with _timed(took, name, say, f"building {name} ({package}, Kubernetes {RELEASE})"):
                flags = ["-trimpath", "-ldflags", _ldflags(name)]
                _go(["build", *flags, "-o", str(staging / name), package])
                with (staging / name).open("rb") as made:
                    program = made.read(4) == b"\x7fELF"
                if not program:
                    raise BuildError(f"go build {package} made no program (not a main package?)")
        with _timed(took, "kwok", say, f"building kwok (sigs.k8s.io/kwok {KWOK})"):
            install = ["install", f"sigs.k8s.io/kwok/cmd/kwok@{KWOK}"]
            _go(install, extra={"GOBIN": str(staging)}, cwd=kube_dir())
        _copy(f"sigs.k8s.io/gateway-api@{GATEWAY_API}", GATEWAY_CRDS, kube_dir() / "crds")
        _copy(f"sigs.k8s.io/kwok@{KWOK}", KWOK_STAGES, kube_dir() / "stages")

    return _build_into(kube_dir(), built, make, say)


def build_node(say: Callable[[str], None] = print) -> Path:
    """Build the real node's programs into their cache folder; the folder."""
    for tool, purpose in (("go", "the kubelet and containerd"), ("gcc", "the pause program")):
        if node_built() is None and shutil.which(tool) is None:
            raise BuildError(f"building {purpose} needs {tool}, which is not on PATH")

    def make(staging: Path, took: dict[str, float]) -> None:
        (staging / "cni").mkdir()
        wanted = [(name, *where, staging / name) for name, where in NODE_PROGRAMS.items()]
        wanted += [(n, NODEMOD, package, staging / "cni" / n) for n, package in CNI.items()]
        for name, module, package, output in wanted:
            with _timed(took, name, say, f"building {name} ({package})"):
                flags = ["-trimpath", "-ldflags", _ldflags(name)]
                if module == NODEMOD:
                    flags += ["-tags", CONTAINERD_TAGS]
                _go(["build", *flags, "-o", str(output), package], cwd=module)
        with _timed(took, "pause", say, f"compiling pause ({PAUSE_SOURCE.name})"):
            compiled = subprocess.run(
                ["gcc", "-static", "-Os", "-s", "-o", str(staging / "pause"), str(PAUSE_SOURCE)],
                capture_output=True,
                text=True,
                check=False,
            )
            if compiled.returncode != 0:
                raise BuildError(
                    f"gcc could not compile {PAUSE_SOURCE}:\n{compiled.stderr[-4000:]}"
                )

    return _build_into(node_dir(), node_built, make, say)


def _build_into(
    root: Path,
    ready: Callable[[], Path | None],
    make: Callable[[Path, dict[str, float]], None],
    say: Callable[[str], None],
) -> Path:
    """Run `make` into a fresh bin.new under `root`, which then becomes bin/: under a lock, so
    that of several test processes asking at once one builds and the others wait for it."""
    if ready() is not None:
        return root
    root.mkdir(parents=True, exist_ok=True)
    with (root / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready() is not None:
            return root
        took: dict[str, float] = {}
        started = time.monotonic()
        staging = root / "bin.new"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        make(staging, took)
        shutil.rmtree(root / "bin", ignore_errors=True)
        staging.rename(root / "bin")
        took["total"] = round(time.monotonic() - started, 1)
        (root / "build-times.json").write_text(json.dumps(took, indent=2) + "\n")
        say(f"built into {root} in {took['total']} s: {took}")
    return root


@contextmanager
def _timed(
    took: dict[str, float], name: str, say: Callable[[str], None], saying: str
) -> Iterator[None]:
    say(saying)
    step = time.monotonic()
    yield
    took[name] = round(time.monotonic() - step, 1)


def _ldflags(name: str) -> str:
    """Strip symbols; Kubernetes binaries say their release (as `make` would stamp it)."""
    if name not in (*CONTROL_PLANE, "kubelet") or name == "etcd":
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
        say = lambda line: print(line, flush=True)  # noqa: E731
        print(build(say))
        if "--node" in sys.argv[1:]:
            print(build_node(say))
    except BuildError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
