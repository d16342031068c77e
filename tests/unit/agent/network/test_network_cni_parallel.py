"""CniNetwork wires several containers at once (an agent starts many instances in parallel),
while a sweep over all containers waits until no wiring is under way. Fake plugins, no root."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from tests.unit.agent.network.network_fakes import BRIDGE_RESULT_1_0, FakeFirewall, FakePlugins

from yun.agent.network import CniNetwork
from yun.agent.network import cni as cni_module


@pytest.fixture
def network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CniNetwork:
    plugins = FakePlugins(tmp_path / "plugins")
    plugins.answer("bridge", "ADD", BRIDGE_RESULT_1_0)
    plugins.answer("loopback", "ADD", {"cniVersion": "1.0.0"})
    monkeypatch.setattr(cni_module, "ensure_bridge", lambda name: None)
    made = CniNetwork(state_dir=tmp_path / "state", plugin_dir=plugins.dir)
    made.firewall = FakeFirewall()  # type: ignore[assignment]
    return made


def namespace(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.touch()
    return path


def test_containers_are_wired_at_the_same_time(
    tmp_path: Path, network: CniNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    both_inside = threading.Barrier(2, timeout=5)  # broken if one attach waits for the other
    monkeypatch.setattr(cni_module, "isolate_port", lambda veth: both_inside.wait())
    errors: list[BaseException] = []

    def attach(cid: str) -> None:
        try:
            network.attach(cid, namespace(tmp_path, f"ns-{cid}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attach, args=(cid,)) for cid in ("c1", "c2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    attached = network.attachments()
    assert sorted(attached) == ["c1", "c2"]
    assert all(a.result is not None for a in attached.values())


def test_a_sweep_waits_for_wiring_under_way(
    tmp_path: Path, network: CniNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep_done = threading.Event()
    sweeps_while_wiring: list[bool] = []

    def sweep() -> None:
        network.release_stale({"c1"})
        sweep_done.set()

    def isolate_port(veth: str) -> None:  # runs while c1's plugins hold the wiring lock
        threading.Thread(target=sweep).start()
        sweeps_while_wiring.append(sweep_done.wait(0.3))

    monkeypatch.setattr(cni_module, "isolate_port", isolate_port)
    network.attach("c1", namespace(tmp_path, "ns-c1"))
    assert sweeps_while_wiring == [False]
    assert sweep_done.wait(5)
    assert list(network.attachments()) == ["c1"]  # alive: the sweep left it alone
