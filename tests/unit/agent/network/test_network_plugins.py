from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from tests.unit.agent.network.network_fakes import BRIDGE_RESULT_1_0, FakePlugins

from yun.agent.network import NetworkError, NetworkLease
from yun.agent.network.plugins import host_veth, lease_from_result, run_plugin

RESULT_0_4: dict[str, Any] = {
    "cniVersion": "0.4.0",
    "interfaces": [
        {"name": "cni0", "mac": "aa:aa:aa:aa:aa:aa"},
        {"name": "veth0", "mac": "bb:bb:bb:bb:bb:bb"},
        {"name": "eth0", "mac": "cc:cc:cc:cc:cc:cc", "sandbox": "/run/netns/x"},
    ],
    "ips": [
        {"version": "6", "interface": 2, "address": "fd00::5/64", "gateway": "fd00::1"},
        {"version": "4", "interface": 2, "address": "10.1.2.5/24", "gateway": "10.1.2.1"},
    ],
}


def test_lease_from_a_cni_1_0_result() -> None:
    lease = lease_from_result(BRIDGE_RESULT_1_0, ifname="eth0")
    assert lease == NetworkLease(address="10.244.0.2", gateway="10.244.0.1", prefix=16)


def test_lease_from_a_cni_0_4_result_skips_ipv6() -> None:
    lease = lease_from_result(RESULT_0_4, ifname="eth0")
    assert lease == NetworkLease(address="10.1.2.5", gateway="10.1.2.1", prefix=24)


def test_lease_prefers_the_address_of_the_named_container_interface() -> None:
    result = copy.deepcopy(RESULT_0_4)
    result["ips"].insert(0, {"version": "4", "interface": 0, "address": "10.9.9.9/8"})
    assert lease_from_result(result, ifname="eth0").address == "10.1.2.5"


def test_lease_from_a_cni_0_2_result() -> None:
    result = {"cniVersion": "0.2.0", "ip4": {"ip": "10.3.0.7/16", "gateway": "10.3.0.1"}}
    assert lease_from_result(result, ifname="net1") == NetworkLease(
        address="10.3.0.7", gateway="10.3.0.1", prefix=16, interface="net1"
    )


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"cniVersion": "1.0.0", "interfaces": []}, "no IP configuration"),
        ({"ips": [{"address": "fd00::2/64", "gateway": "fd00::1"}]}, "no IPv4 address"),
        ({"ips": [{"address": "10.0.0.2/24"}]}, "no gateway"),
        ({"ip4": {"ip": "not-an-address", "gateway": "10.0.0.1"}}, "invalid address"),
    ],
)
def test_results_without_a_usable_lease_are_errors(result: dict[str, Any], message: str) -> None:
    with pytest.raises(NetworkError, match=message):
        lease_from_result(result, ifname="eth0")


def test_host_veth_is_the_interface_outside_the_sandbox_that_is_not_the_bridge() -> None:
    assert host_veth(BRIDGE_RESULT_1_0, bridge="yun0") == "veth1f02e458"
    assert host_veth({"interfaces": []}, bridge="yun0") is None


def call(plugins: FakePlugins, command: str = "ADD", **config: Any) -> dict[str, Any] | None:
    return run_plugin(
        plugin_dir=plugins.dir,
        config={"cniVersion": "1.0.0", "name": "net", "type": "bridge", **config},
        command=command,
        container_id="c1",
        netns="/run/netns/c1",
        ifname="eth0",
    )


def test_a_plugin_gets_the_cni_environment_and_the_config_on_stdin(tmp_path: Path) -> None:
    plugins = FakePlugins(tmp_path)
    plugins.answer("bridge", "ADD", BRIDGE_RESULT_1_0)
    assert call(plugins, bridge="yun0") == BRIDGE_RESULT_1_0
    (seen,) = plugins.calls()
    config = {"cniVersion": "1.0.0", "name": "net", "type": "bridge", "bridge": "yun0"}
    assert seen["stdin"] == config
    env = seen["env"]
    assert env["CNI_COMMAND"] == "ADD"
    assert (env["CNI_CONTAINERID"], env["CNI_NETNS"], env["CNI_IFNAME"]) == (
        "c1",
        "/run/netns/c1",
        "eth0",
    )
    assert env["CNI_PATH"] == str(tmp_path)
    assert "/usr/sbin" in env["PATH"].split(":")  # the bridge plugin runs iptables


def test_a_plugin_printing_nothing_returns_none(tmp_path: Path) -> None:
    assert call(FakePlugins(tmp_path), "DEL") is None


def test_a_cni_error_becomes_a_network_error_with_code_and_message(tmp_path: Path) -> None:
    plugins = FakePlugins(tmp_path)
    error = {"cniVersion": "1.0.0", "code": 7, "msg": "bad bridge", "details": "name too long"}
    plugins.answer("bridge", "ADD", error, rc=1)
    with pytest.raises(NetworkError) as caught:
        call(plugins)
    assert caught.value.code == 7
    assert caught.value.details == "name too long"
    text = str(caught.value)
    assert "'bridge' ADD for container c1" in text
    assert "invalid network config" in text and "bad bridge" in text


def test_plugin_specific_error_codes_are_kept(tmp_path: Path) -> None:
    plugins = FakePlugins(tmp_path)
    plugins.answer("bridge", "ADD", {"code": 999, "msg": "failed to open netns"}, rc=1)
    with pytest.raises(NetworkError, match=r"code 999.*failed to open netns") as caught:
        call(plugins)
    assert caught.value.code == 999


def test_a_failure_without_error_json_reports_stderr(tmp_path: Path) -> None:
    plugins = FakePlugins(tmp_path)
    plugins.answer("bridge", "ADD", "panic: oops", rc=2)
    with pytest.raises(NetworkError, match="exit status 2: fake stderr of bridge"):
        call(plugins)


def test_output_that_is_not_json_is_an_error(tmp_path: Path) -> None:
    plugins = FakePlugins(tmp_path)
    plugins.answer("bridge", "ADD", "hello")
    with pytest.raises(NetworkError, match="not JSON"):
        call(plugins)


def test_a_missing_plugin_is_an_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match=f"no executable {tmp_path}/tuning"):
        call(FakePlugins(tmp_path), type="tuning")
    with pytest.raises(NetworkError, match="no executable"):
        call(FakePlugins(tmp_path), type="../bridge")
