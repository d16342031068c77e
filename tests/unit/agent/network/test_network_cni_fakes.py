"""CniNetwork's bookkeeping around the plugins (chaining, cached results, cleanup after failure,
garbage collection), with fake plugins and no root. The real thing: tests/integration."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from tests.unit.agent.network.network_fakes import BRIDGE_RESULT_1_0, FakeFirewall, FakePlugins

from yun.agent.network import Attachment, CniNetwork, NetworkError, NetworkLease
from yun.agent.network import cni as cni_module


@pytest.fixture
def plugins(tmp_path: Path) -> FakePlugins:
    plugins = FakePlugins(tmp_path / "plugins", names=("bridge", "tuning", "loopback"))
    plugins.answer("bridge", "ADD", BRIDGE_RESULT_1_0)
    final = copy.deepcopy(BRIDGE_RESULT_1_0)
    final["interfaces"][2]["mtu"] = 1400  # what a chained plugin might add
    plugins.answer("tuning", "ADD", final)
    plugins.answer("loopback", "ADD", {"cniVersion": "1.0.0"})
    return plugins


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    ports: list[str] = []
    monkeypatch.setattr(cni_module, "ensure_bridge", lambda name: None)
    monkeypatch.setattr(cni_module, "isolate_port", ports.append)
    return ports


def chained_network(tmp_path: Path, plugins: FakePlugins) -> tuple[CniNetwork, FakeFirewall]:
    network = CniNetwork(state_dir=tmp_path / "state", plugin_dir=plugins.dir)
    network.conflist["plugins"].append({"type": "tuning", "mtu": 1400})
    firewall = FakeFirewall()
    network.firewall = firewall  # type: ignore[assignment]
    return network, firewall


def commands(plugins: FakePlugins) -> list[tuple[str, str, str]]:
    return [(c["plugin"], c["env"]["CNI_COMMAND"], c["env"]["CNI_IFNAME"]) for c in plugins.calls()]


def test_attach_chains_plugins_and_remembers_the_final_result(
    tmp_path: Path, plugins: FakePlugins, isolated: list[str]
) -> None:
    network, firewall = chained_network(tmp_path, plugins)
    netns = tmp_path / "netns-a"
    netns.touch()
    lease = network.attach("c1", netns)
    assert lease == NetworkLease(address="10.244.0.2", gateway="10.244.0.1", prefix=16)
    assert firewall.ensured and isolated == ["veth1f02e458"]
    assert commands(plugins) == [
        ("loopback", "ADD", "lo"),
        ("bridge", "ADD", "eth0"),
        ("tuning", "ADD", "eth0"),
    ]
    calls = plugins.calls()
    assert "prevResult" not in calls[1]["stdin"]
    assert calls[2]["stdin"]["prevResult"] == BRIDGE_RESULT_1_0
    assert calls[2]["stdin"]["name"] == "yun-yun0" and calls[2]["stdin"]["mtu"] == 1400
    saved = network.attachments()["c1"]
    assert saved.netns == str(netns) and saved.result is not None
    assert saved.result["interfaces"][2]["mtu"] == 1400

    assert network.attach("c1", netns) == lease  # known: no plugin runs again
    assert len(plugins.calls()) == 3


def test_a_failed_attach_undoes_what_was_done(
    tmp_path: Path, plugins: FakePlugins, isolated: list[str]
) -> None:
    network, _ = chained_network(tmp_path, plugins)
    plugins.answer("tuning", "ADD", {"code": 4, "msg": "no such sysctl"}, rc=1)
    netns = tmp_path / "netns-a"
    netns.touch()
    with pytest.raises(NetworkError, match=r"tuning.*no such sysctl"):
        network.attach("c1", netns)
    assert commands(plugins)[3:] == [
        ("tuning", "DEL", "eth0"),
        ("bridge", "DEL", "eth0"),
        ("loopback", "DEL", "lo"),
    ]
    assert network.attachments() == {}


def test_attach_needs_an_existing_namespace_and_a_valid_id(tmp_path: Path) -> None:
    network = CniNetwork(state_dir=tmp_path)
    with pytest.raises(NetworkError, match="no network namespace"):
        network.attach("c1", tmp_path / "missing")
    with pytest.raises(NetworkError, match="invalid container id"):
        network.attach("../c1", tmp_path)


def test_detach_of_a_vanished_namespace_passes_no_netns_and_the_cached_result(
    tmp_path: Path, plugins: FakePlugins
) -> None:
    network, firewall = chained_network(tmp_path, plugins)
    network.store.put(Attachment("c1", str(tmp_path / "gone"), "eth0", BRIDGE_RESULT_1_0))
    network.detach("c1", tmp_path / "gone")
    assert commands(plugins) == [("tuning", "DEL", "eth0"), ("bridge", "DEL", "eth0")]
    for call in plugins.calls():
        assert call["env"]["CNI_NETNS"] == ""
        assert call["stdin"]["prevResult"] == BRIDGE_RESULT_1_0
    assert firewall.removed_masquerade == ["c1"]
    assert network.attachments() == {}

    network.detach("c1", tmp_path / "gone")  # unknown now: DEL still runs, harmlessly
    assert "prevResult" not in plugins.calls()[-1]["stdin"]


def test_a_failed_detach_keeps_the_record_for_a_retry(tmp_path: Path, plugins: FakePlugins) -> None:
    network, _ = chained_network(tmp_path, plugins)
    network.store.put(Attachment("c1", "", "eth0", BRIDGE_RESULT_1_0))
    plugins.answer("bridge", "DEL", {"code": 11, "msg": "busy"}, rc=1)
    with pytest.raises(NetworkError, match="try again later") as caught:
        network.detach("c1", Path("/nonexistent"))
    assert caught.value.code == 11
    assert set(network.attachments()) == {"c1"}


def test_check_sends_the_cached_result(tmp_path: Path, plugins: FakePlugins) -> None:
    network, _ = chained_network(tmp_path, plugins)
    with pytest.raises(NetworkError, match="not attached"):
        network.check("c1")
    network.store.put(Attachment("c1", "/run/netns/a", "eth0", BRIDGE_RESULT_1_0))
    network.check("c1")
    assert commands(plugins) == [("bridge", "CHECK", "eth0"), ("tuning", "CHECK", "eth0")]
    assert all(c["stdin"]["prevResult"] == BRIDGE_RESULT_1_0 for c in plugins.calls())


def test_release_stale_uses_the_state_file_and_host_local(
    tmp_path: Path, plugins: FakePlugins
) -> None:
    network, firewall = chained_network(tmp_path, plugins)
    for cid in ("alive", "dead"):
        network.store.put(Attachment(cid, "", "eth0", BRIDGE_RESULT_1_0))
    ipam = network.ipam_dir / network.network
    ipam.mkdir(parents=True)
    (ipam / "10.244.0.2").write_text("alive\r\neth0")
    (ipam / "10.244.0.3").write_text("dead\r\neth0")
    (ipam / "10.244.0.4").write_text("forgotten\r\neth1")
    (ipam / "lock").write_text("")

    released = network.release_stale({"alive"})
    assert released == ["dead", "forgotten"]
    deleted: dict[str, Any] = {
        c["env"]["CNI_CONTAINERID"]: c["env"]["CNI_IFNAME"]
        for c in plugins.calls()
        if c["plugin"] == "bridge"
    }
    assert deleted == {"dead": "eth0", "forgotten": "eth1"}
    assert set(network.attachments()) == {"alive"}
    assert firewall.removed_masquerade == ["dead", "forgotten"]


def test_release_stale_goes_on_after_a_failure(tmp_path: Path, plugins: FakePlugins) -> None:
    network, _ = chained_network(tmp_path, plugins)
    network.store.put(Attachment("a", "", "eth0", None))
    network.store.put(Attachment("b", "", "eth0", None))
    plugins.answer("bridge", "DEL", "broken", rc=1)
    assert network.release_stale(set()) == []
    assert set(network.attachments()) == {"a", "b"}
    assert len([c for c in plugins.calls() if c["plugin"] == "bridge"]) == 2
