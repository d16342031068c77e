"""A real Kubernetes control plane on loopback for the tests: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and KWOK (simulated nodes), built by `tests/kube/build.py`.

`running_cluster(folder)` makes the certificates (a CA, the apiserver's serving certificate, an
admin client certificate in `system:masters`, the service-account key), starts each part on free
loopback ports with its data and logs under `folder`, waits for the apiserver's `/readyz`,
installs the Gateway API CRDs, registers `nodes` simulated nodes and yields the cluster; on exit
it stops what it started, by pid. Pods scheduled on the simulated nodes become Running with an
IP (KWOK's fast stages); no container really runs.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tests.helpers import free_port
from tests.kube.build import BuildError, build, built

from yun.kube.client import KubeCluster
from yun.tls import ensure_ca, private_pem, write_private

SERVICE_RANGE = "10.96.0.0/16"
POD_RANGE = "10.244.0.0/16"
START_TIMEOUT = 120.0
NODE_READY_TIMEOUT = 60.0


@dataclass
class Cluster:
    folder: Path
    server: str  # https://127.0.0.1:PORT
    kubeconfig: Path
    ca_file: Path
    nodes: list[str]
    pids: dict[str, int] = field(default_factory=dict)

    def log(self, part: str) -> str:
        path = self.folder / f"{part}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def binaries() -> Path:
    """The built control plane's folder, built first if needed (a skip, or in CI a failure,
    when it cannot be)."""
    return built_or_skip(built, build, "kube build")


def built_or_skip(
    found: Callable[[], Path | None], make: Callable[[Callable[[str], None]], Path], label: str
) -> Path:
    """`found()`, else what `make` builds (saying its steps); a skip, or in CI a failure, when
    it cannot be built."""
    ready = found()
    if ready is not None:
        return ready
    try:
        return make(lambda line: print(f"[{label}] {line}", flush=True))
    except BuildError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@contextmanager
def running_cluster(folder: Path, *, nodes: int = 2) -> Iterator[Cluster]:
    root = binaries()
    folder.mkdir(parents=True, exist_ok=True)
    pki = _certificates(folder / "pki")
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    server = f"https://127.0.0.1:{api_port}"
    kubeconfig = _kubeconfig(folder / "admin.kubeconfig", server, pki)
    cluster = Cluster(folder, server, kubeconfig, pki["ca.pem"], nodes=[])
    with ExitStack() as stack:
        bin_dir = root / "bin"
        stack.enter_context(
            start_process(
                cluster,
                "etcd",
                [
                    str(bin_dir / "etcd"),
                    "--name=yun-test",
                    f"--data-dir={folder / 'etcd'}",
                    f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                    f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                    f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                    f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                    f"--initial-cluster=yun-test=http://127.0.0.1:{peer_port}",
                    "--listen-metrics-urls=",
                    "--unsafe-no-fsync",
                    "--log-level=warn",
                ],
            )
        )
        stack.enter_context(
            start_process(
                cluster,
                "kube-apiserver",
                [
                    str(bin_dir / "kube-apiserver"),
                    f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    f"--secure-port={api_port}",
                    f"--cert-dir={folder / 'pki'}",
                    f"--tls-cert-file={pki['apiserver.pem']}",
                    f"--tls-private-key-file={pki['apiserver-key.pem']}",
                    f"--client-ca-file={pki['ca.pem']}",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    f"--service-account-key-file={pki['sa.pem']}",
                    f"--service-account-signing-key-file={pki['sa-key.pem']}",
                    f"--service-cluster-ip-range={SERVICE_RANGE}",
                    "--authorization-mode=Node,RBAC",
                    "--allow-privileged=true",
                    # a real node's kubelet listens on loopback, found by its name, localhost
                    "--kubelet-preferred-address-types=Hostname,InternalIP,ExternalIP",
                    "--profiling=false",
                    "--v=1",
                ],
            )
        )
        _wait_ready(cluster, pki)
        common = [f"--kubeconfig={kubeconfig}", "--leader-elect=false", "--profiling=false"]
        stack.enter_context(
            start_process(
                cluster,
                "kube-controller-manager",
                [
                    str(bin_dir / "kube-controller-manager"),
                    *common,
                    "--bind-address=127.0.0.1",
                    f"--secure-port={free_port()}",
                    f"--authentication-kubeconfig={kubeconfig}",
                    f"--authorization-kubeconfig={kubeconfig}",
                    f"--service-account-private-key-file={pki['sa-key.pem']}",
                    f"--root-ca-file={pki['ca.pem']}",
                    f"--cluster-signing-cert-file={pki['ca.pem']}",
                    f"--cluster-signing-key-file={pki['ca-key.pem']}",
                    f"--service-cluster-ip-range={SERVICE_RANGE}",
                    f"--cluster-cidr={POD_RANGE}",
                    "--use-service-account-credentials=false",
                    "--v=1",
                ],
            )
        )
        stack.enter_context(
            start_process(
                cluster,
                "kube-scheduler",
                [
                    str(bin_dir / "kube-scheduler"),
                    *common,
                    "--bind-address=127.0.0.1",
                    f"--secure-port={free_port()}",
                    f"--authentication-kubeconfig={kubeconfig}",
                    f"--authorization-kubeconfig={kubeconfig}",
                    "--v=1",
                ],
            )
        )
        stages = folder / "kwok.yaml"
        stages.write_text(_kwok_config(root / "stages"))
        stack.enter_context(
            start_process(
                cluster,
                "kwok",
                [
                    str(bin_dir / "kwok"),
                    f"--kubeconfig={kubeconfig}",
                    f"--config={stages}",
                    "--manage-all-nodes=false",
                    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                    "--manage-nodes-with-label-selector=",
                    "--cidr=10.244.0.1/16",
                    "--node-ip=127.0.0.1",
                    f"--server-address=127.0.0.1:{free_port()}",
                ],
            )
        )
        cluster.nodes = [f"kwok-node-{index}" for index in range(nodes)]
        yield cluster


def add_nodes(client: KubeCluster, cluster: Cluster) -> None:
    """Register the cluster's simulated nodes and wait until KWOK has them Ready."""
    for name in cluster.nodes:
        client.apply(_node(name))
    _wait_nodes_ready(client, cluster)


def _node(name: str) -> dict[str, object]:
    """A node KWOK keeps Ready (it manages nodes with this annotation)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": {
                "cpu": "32",
                "memory": "256Gi",
                "pods": "110",
                "ephemeral-storage": "500Gi",
            },
            "capacity": {
                "cpu": "32",
                "memory": "256Gi",
                "pods": "110",
                "ephemeral-storage": "500Gi",
            },
        },
    }


def _wait_nodes_ready(client: KubeCluster, cluster: Cluster) -> None:
    deadline = time.monotonic() + NODE_READY_TIMEOUT
    while time.monotonic() < deadline:
        ready = [
            node["metadata"]["name"]
            for node in client.list("v1", "Node")
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (node.get("status") or {}).get("conditions") or []
            )
        ]
        if sorted(ready) == sorted(cluster.nodes):
            return
        time.sleep(0.5)
    raise AssertionError(f"KWOK nodes not Ready:\n{cluster.log('kwok')}")


def start_process(
    cluster: Cluster, part: str, args: list[str], env: dict[str, str] | None = None
) -> ExitStack:
    """Start `args` with its output in PART.log; the returned stack stops it, by pid."""
    log: IO[bytes] = (cluster.folder / f"{part}.log").open("ab")
    proc = subprocess.Popen(
        args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
    )
    cluster.pids[part] = proc.pid
    stack = ExitStack()
    stack.callback(log.close)
    stack.callback(_stop, proc)
    time.sleep(0.2)
    if proc.poll() is not None:
        stack.close()
        raise AssertionError(f"{part} exited at once:\n{cluster.log(part)}")
    return stack


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _wait_ready(cluster: Cluster, pki: dict[str, Path]) -> None:
    context = ssl.create_default_context(cafile=str(pki["ca.pem"]))
    context.load_cert_chain(pki["admin.pem"], pki["admin-key.pem"])
    deadline = time.monotonic() + START_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{cluster.server}/readyz", context=context, timeout=5):
                return
        except urllib.error.HTTPError as exc:  # not ready yet: it answered, close its answer
            exc.close()
            last = exc
        except OSError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(
        f"kube-apiserver not ready after {START_TIMEOUT:.0f} s ({last}):\n"
        f"{cluster.log('kube-apiserver')}"
    )


def _kwok_config(stages: Path) -> str:
    """KWOK's configuration: its fast stages (nodes Ready at once, pods Running with an IP)."""
    options = {
        "podPlayStageParallelism": 4,
        "nodePlayStageParallelism": 4,
        "nodeLeaseParallelism": 4,
        "podsOnNodeSyncParallelism": 1,
        "nodeLeaseDurationSeconds": 40,
        "nodeStatusUpdateFrequencyMilliseconds": 10000,
    }  # its defaults are not applied to a configuration given as a file
    documents = [
        {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokConfiguration",
            "options": options,
        }
    ]
    for path in sorted(stages.glob("*.yaml")):
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return yaml.safe_dump_all(documents, sort_keys=False)


def _kubeconfig(path: Path, server: str, pki: dict[str, Path]) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "yun-test",
                "cluster": {"server": server, "certificate-authority": str(pki["ca.pem"])},
            }
        ],
        "users": [
            {
                "name": "admin",
                "user": {
                    "client-certificate": str(pki["admin.pem"]),
                    "client-key": str(pki["admin-key.pem"]),
                },
            }
        ],
        "contexts": [{"name": "yun-test", "context": {"cluster": "yun-test", "user": "admin"}}],
        "current-context": "yun-test",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _certificates(folder: Path) -> dict[str, Path]:
    """A CA (Yun's own CA code makes it), the apiserver's serving certificate, an admin client
    certificate in `system:masters` and the service-account key pair."""
    ca = ensure_ca(folder)
    files = {
        "ca.pem": ca.pem.encode(),
        "ca-key.pem": private_pem(ca.key),
        "apiserver.pem": b"",
        "admin.pem": b"",
    }
    names = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "10.96.0.1")]
    for name, subject, usage, alternative in (
        (
            "apiserver",
            {NameOID.COMMON_NAME: "kube-apiserver"},
            ExtendedKeyUsageOID.SERVER_AUTH,
            sans,
        ),
        (
            "admin",
            {NameOID.ORGANIZATION_NAME: "system:masters", NameOID.COMMON_NAME: "yun-test-admin"},
            ExtendedKeyUsageOID.CLIENT_AUTH,
            [],
        ),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(o, v) for o, v in subject.items()]))
            .issuer_name(ca.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if alternative:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(alternative), critical=False
            )
        certificate = builder.sign(ca.key, hashes.SHA256())
        files[f"{name}.pem"] = certificate.public_bytes(serialization.Encoding.PEM)
        files[f"{name}-key.pem"] = private_pem(key)
    accounts = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files["sa-key.pem"] = private_pem(accounts)
    files["sa.pem"] = accounts.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    paths = {}
    for name, data in files.items():
        paths[name] = folder / name
        write_private(paths[name], data)
    return paths
