"""One real Kubernetes node for the tests: containerd (with the machine's runc) and the kubelet
from the same release as the control plane, built by `tests/kube/build.py` (`build_node`).

`running_node(cluster, folder, registry)` pushes the pod sandbox image (the static `pause`
program) into `registry` (the platform registry, plain HTTP on loopback), writes containerd's
configuration (its state, sockets and images under `folder`; pulls from that registry over
HTTP; pods wired by the CNI bridge plugin to a bridge of their own with a /24 of 10.246.0.0/16),
starts containerd and a kubelet registered as node `yun-node` at 127.0.0.1 (its API on a free
loopback port, anonymous and allowed, for the apiserver's logs and exec), waits until the node
is Ready and yields it; on exit it deletes the node's pods, stops both by pid and removes the
bridge. Needs root (the kubelet and runc make cgroups and namespaces); a skip otherwise.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from tests.helpers import free_port
from tests.kube.build import build_node, node_built
from tests.kube.cluster import Cluster, built_or_skip, start_process

from yun.kube.client import KubeCluster, KubeError
from yun.registry.transfer import push

NODE_NAME = "localhost"  # the apiserver reaches its kubelet by this name, on loopback
PAUSE_IMAGE = "yun-test/pause"
RUNC = os.environ.get("YUN_TEST_RUNC", "/usr/sbin/runc")
READY_TIMEOUT = 120.0


@dataclass
class Node:
    name: str
    folder: Path
    subnet: str  # the pods' addresses
    bridge: str


def node_binaries() -> Path:
    """The built node's folder: built first if needed; a skip (in CI a failure) when it cannot
    be, and a skip where the node cannot run (not root, no runc)."""
    if os.geteuid() != 0:
        pytest.skip("a real Kubernetes node needs root (cgroups, namespaces)")
    if not Path(RUNC).is_file():
        pytest.skip(f"a real Kubernetes node needs runc at {RUNC} (apt-get install runc)")
    return built_or_skip(node_built, build_node, "kube node build")


@contextmanager
def running_node(cluster: Cluster, folder: Path, registry: str) -> Iterator[Node]:
    """A Ready node `yun-node` in `cluster`, pulling from `registry` ("127.0.0.1:PORT")."""
    root = node_binaries()
    folder.mkdir(parents=True, exist_ok=True)
    pause = _push_pause(root / "bin" / "pause", registry)
    third = random.randrange(0, 256)
    node = Node(NODE_NAME, folder, f"10.246.{third}.0/24", f"yunk{third:03d}{os.getpid() % 1000}")
    cni = _cni_config(folder, node)
    socket = folder / "containerd.sock"
    (folder / "certs.d" / registry).mkdir(parents=True)
    (folder / "certs.d" / registry / "hosts.toml").write_text(
        f'server = "http://{registry}"\n\n[host."http://{registry}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
    )
    config = folder / "containerd.toml"
    config.write_text(_containerd_config(folder, socket, cni, root / "bin" / "cni", pause))
    env_path = f"{root / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    kubelet_config = folder / "kubelet.yaml"
    kubelet_config.write_text(yaml.safe_dump(_kubelet_config(folder, socket), sort_keys=False))
    with ExitStack() as stack:
        stack.callback(_remove_bridge, node.bridge)
        stack.callback(_unmount_under, folder)
        stack.callback(_stop_containers, folder)
        stack.enter_context(
            start_process(
                cluster,
                "containerd",
                [str(root / "bin" / "containerd"), f"--config={config}"],
                env={**os.environ, "PATH": env_path},
            )
        )
        _wait_socket(cluster, socket)
        stack.enter_context(
            start_process(
                cluster,
                "kubelet",
                [
                    str(root / "bin" / "kubelet"),
                    f"--config={kubelet_config}",
                    f"--kubeconfig={cluster.kubeconfig}",
                    f"--root-dir={folder / 'kubelet'}",
                    f"--cert-dir={folder / 'kubelet-pki'}",
                    f"--hostname-override={NODE_NAME}",
                    "--v=2",
                ],
                env={**os.environ, "PATH": env_path},
            )
        )
        client = KubeCluster(cluster.kubeconfig)
        stack.callback(client.close)
        stack.callback(_delete_pods, client, cluster)
        _wait_ready(client, cluster)
        yield node


def _push_pause(program: Path, registry: str) -> str:
    """The sandbox image (`pause` as its only file) pushed into `registry`; its reference."""
    with tempfile.TemporaryDirectory(prefix="yun-pause-") as work:
        layout, tag = Path(work) / "layout", "1"
        image = f"{layout}:{tag}"
        bundle = Path(work) / "bundle"
        for args in (
            ["init", "--layout", str(layout)],
            ["new", "--image", image],
            ["unpack", "--rootless", "--image", image, str(bundle)],
        ):
            subprocess.run(["umoci", *args], check=True, capture_output=True)
        shutil.copy2(program, bundle / "rootfs" / "pause")
        for args in (
            ["repack", "--image", image, str(bundle)],
            ["config", "--image", image, "--config.entrypoint", "/pause"],
        ):
            subprocess.run(["umoci", *args], check=True, capture_output=True)
        pushed = push(layout, tag, f"{registry}/{PAUSE_IMAGE}:{tag}", tls_verify=False)
    return f"{registry}/{PAUSE_IMAGE}:1" if "@" not in pushed else pushed.split("@")[0] + ":1"


def _cni_config(folder: Path, node: Node) -> Path:
    conf_dir = folder / "cni"
    conf_dir.mkdir()
    network = {
        "cniVersion": "1.0.0",
        "name": "yun-test-pods",
        "plugins": [
            {
                "type": "bridge",
                "bridge": node.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": node.subnet}]],
                    "dataDir": str(folder / "cni-ipam"),
                },
            }
        ],
    }
    (conf_dir / "10-yun-test.conflist").write_text(json.dumps(network, indent=2))
    return conf_dir


def _containerd_config(folder: Path, socket: Path, cni: Path, cni_bin: Path, pause: str) -> str:
    images = "plugins.'io.containerd.cri.v1.images'"
    runtime = "plugins.'io.containerd.cri.v1.runtime'"
    runc = f"{runtime}.containerd.runtimes.runc"
    return f"""version = 3
root = "{folder / "containerd-root"}"
state = "{folder / "containerd-state"}"
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.internal.v1.opt",
  "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{folder / "containerd-ttrpc.sock"}"

[debug]
  address = ""

[metrics]
  address = ""

[{images}]
  snapshotter = "overlayfs"

[{images}.pinned_images]
  sandbox = "{pause}"

[{images}.registry]
  config_path = "{folder / "certs.d"}"

[{runtime}]
  # no lower OOM score than containerd's own: lowering one needs CAP_SYS_RESOURCE, which a
  # machine may withhold even from root
  restrict_oom_score_adj = true

[{runtime}.cni]
  bin_dirs = ["{cni_bin}"]
  conf_dir = "{cni}"

[{runtime}.containerd]
  default_runtime_name = "runc"

[{runc}]
  runtime_type = "io.containerd.runc.v2"

[{runc}.options]
  BinaryName = "{RUNC}"
  Root = "{folder / "runc"}"
  SystemdCgroup = false

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"""


def _kubelet_config(folder: Path, socket: Path) -> dict[str, object]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "127.0.0.1",
        "port": free_port(),
        "readOnlyPort": 0,
        "healthzPort": 0,
        "authentication": {
            "anonymous": {"enabled": True},
            "webhook": {"enabled": False},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "oomScoreAdj": 0,
        "containerRuntimeEndpoint": f"unix://{socket}",
        "podLogsDir": str(folder / "pod-logs"),
        "resolvConf": "",
        "maxPods": 30,
        "serializeImagePulls": False,
        "syncFrequency": "5s",
        "nodeStatusUpdateFrequency": "4s",
        "evictionHard": {
            "memory.available": "1Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
    }


def _wait_socket(cluster: Cluster, socket: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if socket.exists():
            return
        time.sleep(0.2)
    raise AssertionError(f"containerd did not listen on {socket}:\n{cluster.log('containerd')}")


def _wait_ready(client: KubeCluster, cluster: Cluster) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        node = client.get("v1", "Node", NODE_NAME)
        conditions = ((node or {}).get("status") or {}).get("conditions") or []
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            return
        time.sleep(1)
    raise AssertionError(
        f"node {NODE_NAME} not Ready after {READY_TIMEOUT:.0f} s:\n"
        f"kubelet: {cluster.log('kubelet')}\ncontainerd: {cluster.log('containerd')}"
    )


def _delete_pods(client: KubeCluster, cluster: Cluster) -> None:
    """Stop the node's pods before the kubelet goes, so that no container outlives the test;
    cordoned first, so that no replacement lands on it meanwhile."""
    with suppress(KubeError):
        client.apply(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": NODE_NAME},
                "spec": {"unschedulable": True},
            }
        )
    pods = [
        p for p in client.list("v1", "Pod") if (p.get("spec") or {}).get("nodeName") == NODE_NAME
    ]
    for pod in pods:
        meta = pod["metadata"]
        client.delete("v1", "Pod", meta["name"], meta["namespace"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        left = [
            p
            for p in client.list("v1", "Pod")
            if (p.get("spec") or {}).get("nodeName") == NODE_NAME
        ]
        if not left:
            return
        time.sleep(1)


def _stop_containers(folder: Path) -> None:
    """Containers (and their shims) outlive containerd: kill what is left, by runc id and pid."""
    for runc_root in (folder / "runc").glob("*"):
        listed = subprocess.run(
            [RUNC, "--root", str(runc_root), "list", "-q"], capture_output=True, text=True
        )
        for container in listed.stdout.split():
            subprocess.run(
                [RUNC, "--root", str(runc_root), "delete", "--force", container],
                capture_output=True,
                check=False,
            )
    # The shims outlive containerd too (a dead pod's sandbox keeps one until the kubelet removes
    # it): those of this node's containerd are the ones whose -address is its socket.
    socket = str(folder / "containerd.sock")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if argv[0].endswith(b"containerd-shim-runc-v2") and socket.encode() in argv:
                os.kill(int(entry.name), signal.SIGKILL)


def _unmount_under(folder: Path) -> None:
    """The kubelet's and containerd's mounts (volumes, root filesystems) left under `folder`."""
    inside = str(folder.resolve())
    with open("/proc/self/mountinfo") as table:
        points = [line.split()[4] for line in table]
    for point in sorted({p for p in points if p.startswith(inside)}, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)


def _remove_bridge(name: str) -> None:
    subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)
