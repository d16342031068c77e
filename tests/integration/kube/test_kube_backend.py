"""The Kubernetes backend behind the node agent's interface, against the real control plane: the
instance controller's wanted slots become Deployments, their pods come back as RUNNING
instances with pod IPs in the same slots; a deployment under way (two versions of web) runs
a stable and a canary side with route weights from their instances; slots no longer wanted
are reported DOWN; an app no longer wanted has its objects removed."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.helpers import free_port
from tests.kube.cluster import Cluster

from yun.agent.specs import HealthCheckSpec, InstanceReport, InstanceSpec
from yun.kube.backend import KubeBackend
from yun.kube.client import KubeCluster
from yun.kube.render import API_VERSIONS, Exposure, Ingress, namespace_of
from yun.slots import slot_of

pytestmark = pytest.mark.integration

APP = str(uuid.uuid5(uuid.NAMESPACE_URL, "backend-app"))
WEB = str(uuid.uuid5(uuid.NAMESPACE_URL, "backend-web"))
WORKER = str(uuid.uuid5(uuid.NAMESPACE_URL, "backend-worker"))


class Recorder:
    def __init__(self) -> None:
        self.states: dict[str, InstanceReport] = {}
        self.crashes: list[InstanceReport] = []

    def on_state(self, report: InstanceReport) -> None:
        self.states[report.slot] = report

    def on_crash(self, report: InstanceReport) -> None:
        self.crashes.append(report)

    def on_log(self, *args: Any) -> None:
        pass


def spec(version: int, index: int, process: str = "web") -> InstanceSpec:
    guid = WEB if process == "web" else WORKER
    return InstanceSpec(
        slot=slot_of(guid, version, index),
        app_guid=APP,
        app_name="ledger",
        process_guid=guid,
        process_type=process,
        index=index,
        droplet=Path(f"/blobs/droplet-{version}.tgz"),
        command=f"python {process}.py --v{version}",
        env={"GREETING": f"v{version}"},
        memory_mb=128,
        disk_mb=256,
        health=HealthCheckSpec(type="http", endpoint="/health"),
        uris=("ledger.apps.example",),
        space_name="dev",
        org_name="main",
    )


def running(backend: KubeBackend, recorder: Recorder, slots: set[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        backend.poll()
        up = {s for s, r in recorder.states.items() if str(r.state) == "RUNNING"}
        if up == slots:
            return
        time.sleep(0.5)
    raise AssertionError(f"running {sorted(up)}, wanted {sorted(slots)}")


def test_wanted_slots_run_as_pods_and_come_back_as_instances(kube: KubeCluster) -> None:
    recorder = Recorder()
    backend = KubeBackend(
        kube,
        listener=recorder,
        image=lambda s: f"127.0.0.1:5000/yun/ledger:{s.droplet.stem}",
        exposure=Exposure(gateway=("infra", "public")),
    )
    namespace = namespace_of("main", "dev")
    backend.set_desired([spec(1, 0), spec(1, 1)])
    running(backend, recorder, {slot_of(WEB, 1, 0), slot_of(WEB, 1, 1)})
    first = recorder.states[slot_of(WEB, 1, 0)]
    assert first.address and first.address.startswith("10.244.") and first.port == 8080

    backend.set_desired([spec(1, 0), spec(2, 0)])  # a deployment under way: one of each
    running(backend, recorder, {slot_of(WEB, 1, 0), slot_of(WEB, 2, 0)})
    assert str(recorder.states[slot_of(WEB, 1, 1)].state) == "DOWN"
    route = kube.get(API_VERSIONS["HTTPRoute"], "HTTPRoute", "ledger", namespace)
    assert route is not None
    backends = route["spec"]["rules"][0]["backendRefs"]
    assert [(b["name"], b["weight"]) for b in backends] == [("ledger", 50), ("ledger-canary", 50)]
    canary = kube.get("apps/v1", "Deployment", "ledger-web-canary", namespace)
    assert canary is not None
    container = canary["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "127.0.0.1:5000/yun/ledger:droplet-2"

    backend.set_desired([spec(2, 0), spec(2, 1)])  # finished: the new version alone
    running(backend, recorder, {slot_of(WEB, 2, 0), slot_of(WEB, 2, 1)})
    assert kube.get("apps/v1", "Deployment", "ledger-web-canary", namespace) is None

    calls = len(kube.list("v1", "Pod", namespace=namespace))
    backend.set_desired([spec(2, 0), spec(2, 1)])  # the same again: nothing to do
    assert len(kube.list("v1", "Pod", namespace=namespace)) == calls

    backend.set_desired([])
    assert kube.get("apps/v1", "Deployment", "ledger-web", namespace) is None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(
        str(r.state) != "DOWN" for r in recorder.states.values()
    ):
        backend.poll()
        time.sleep(0.5)
    backend.close()
    assert {str(r.state) for r in recorder.states.values()} == {"DOWN"}


def test_each_process_moves_to_a_new_revision_on_its_own_image_and_env(kube: KubeCluster) -> None:
    """A deployment moves web and worker instance by instance: each process's new side runs
    beside its old one, on its own revision's image and Secret, its pods in its own slots."""
    recorder = Recorder()
    backend = KubeBackend(
        kube, listener=recorder, image=lambda s: f"127.0.0.1:5000/yun/ledger:{s.droplet.stem}"
    )
    namespace = namespace_of("main", "dev")
    moving = [spec(1, 0), spec(1, 1), spec(2, 0), spec(1, 0, "worker"), spec(2, 0, "worker")]
    backend.set_desired(moving)
    try:
        running(backend, recorder, {s.slot for s in moving})
        for name, revision in (("ledger-worker", "1"), ("ledger-worker-canary", "2")):
            found = kube.get("apps/v1", "Deployment", name, namespace)
            assert found is not None
            template = found["spec"]["template"]
            assert template["metadata"]["labels"]["yun.dev/revision"] == revision
            (container,) = template["spec"]["containers"]
            assert container["image"] == f"127.0.0.1:5000/yun/ledger:droplet-{revision}"
            assert container["envFrom"][0]["secretRef"]["name"] == f"ledger-v{revision}-env"
            assert container["command"][-1] == f"python worker.py --v{revision}"
        secret = kube.get("v1", "Secret", "ledger-v2-env", namespace)
        assert secret is not None
        done = [spec(2, 0), spec(2, 1), spec(2, 0, "worker")]
        backend.set_desired(done)
        running(backend, recorder, {s.slot for s in done})
        assert kube.get("apps/v1", "Deployment", "ledger-worker-canary", namespace) is None
    finally:
        backend.set_desired([])
        backend.close()


def test_a_cluster_that_does_not_answer_is_said_once_and_asked_less_often(
    control_plane: Cluster, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """The same backend with its apiserver gone (a kubeconfig naming a port nobody listens on):
    one warning however many passes, no call before its backoff is over; back, it says so and
    syncs what was wanted meanwhile."""
    gone = yaml.safe_load(control_plane.kubeconfig.read_text())
    gone["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    dead = tmp_path / "gone.kubeconfig"
    dead.write_text(yaml.safe_dump(gone))
    backend = KubeBackend(
        KubeCluster(dead), listener=Recorder(), image=lambda s: "registry.example/yun/ledger:v1"
    )
    backend.name = "gone"
    caplog.set_level(logging.INFO, logger="yun.kube.backend")
    wanted = [spec(1, 0)]
    backend.set_desired(wanted)
    assert backend.reach.reachable is False and backend.reach.reason
    first_try = backend.reach.next_try
    for _ in range(5):
        backend.set_desired(wanted)
        backend.poll()
    said = [r.getMessage() for r in caplog.records if "does not answer" in r.getMessage()]
    assert len(said) == 1 and "cluster gone does not answer" in said[0]
    assert backend.reach.next_try == first_try  # not asked again before its backoff ended

    backend.cluster.close()
    backend.cluster = KubeCluster(control_plane.kubeconfig)  # it answers again
    backend.reach.next_try = 0.0
    backend.set_desired(wanted)
    assert backend.reach.reachable is True
    assert any("cluster gone answers again" in r.getMessage() for r in caplog.records)
    namespace = namespace_of("main", "dev")
    try:
        assert backend.cluster.get("apps/v1", "Deployment", "ledger-web", namespace) is not None
    finally:
        backend.set_desired([])
        backend.close()
        backend.cluster.close()


def test_network_policies_toward_an_app_become_its_networkpolicy(kube: KubeCluster) -> None:
    front = str(uuid.uuid5(uuid.NAMESPACE_URL, "backend-front"))
    allowed: dict[str, tuple[Ingress, ...]] = {}
    backend = KubeBackend(
        kube,
        listener=Recorder(),
        image=lambda s: f"127.0.0.1:5000/yun/ledger:{s.droplet.stem}",
        ingress=lambda app_guid: allowed.get(app_guid, ()),
    )
    namespace = namespace_of("main", "dev")

    def rules() -> list[dict[str, Any]]:
        policy = kube.get(
            API_VERSIONS["NetworkPolicy"], "NetworkPolicy", "ledger-ingress", namespace
        )
        assert policy is not None
        assert policy["spec"]["podSelector"]["matchLabels"] == {"yun.dev/app-guid": APP}
        return list(policy["spec"]["ingress"])

    backend.set_desired([spec(1, 0)])
    assert len(rules()) == 1  # from outside the platform's namespaces only
    allowed[APP] = (Ingress(front, "tcp", 8080, 8090),)  # `yun add-network-policy front ...`
    backend.set_desired([spec(1, 0)])
    _, added = rules()
    assert added["from"][0]["podSelector"]["matchLabels"] == {"yun.dev/app-guid": front}
    assert added["ports"] == [{"protocol": "TCP", "port": 8080, "endPort": 8090}]
    backend.set_desired([])  # the app is gone: its policy too
    gone = kube.get(API_VERSIONS["NetworkPolicy"], "NetworkPolicy", "ledger-ingress", namespace)
    assert gone is None
