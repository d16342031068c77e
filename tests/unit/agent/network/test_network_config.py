from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from yun.agent.network import NetworkError
from yun.agent.network.config import (
    CNI_VERSION,
    bridge_network,
    loopback_network,
    network_name,
    plugin_config,
)


def test_bridge_network_is_a_conflist_of_the_bridge_plugin_with_host_local_ipam() -> None:
    conflist = bridge_network(bridge="yun0", subnet="10.244.0.0/16", ipam_dir=Path("/s/ipam"))
    assert conflist["cniVersion"] == CNI_VERSION == "1.0.0"
    assert conflist["name"] == network_name("yun0") == "yun-yun0"
    (bridge,) = conflist["plugins"]
    assert bridge == {
        "type": "bridge",
        "bridge": "yun0",
        "isGateway": True,
        "ipMasq": True,
        "hairpinMode": True,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": "10.244.0.0/16"}]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "/s/ipam",
        },
    }


@pytest.mark.parametrize("bridge", ["", "a-name-far-too-long", "yun 0", "-yun", "yun/0"])
def test_bad_bridge_names_are_refused(bridge: str) -> None:
    with pytest.raises(NetworkError, match="invalid bridge name"):
        bridge_network(bridge=bridge, subnet="10.244.0.0/16", ipam_dir=Path("/s"))


@pytest.mark.parametrize("subnet", ["10.244.0.1/16", "fd00::/64", "10.0.0.0/31", "nonsense"])
def test_bad_subnets_are_refused(subnet: str) -> None:
    with pytest.raises(NetworkError, match="invalid subnet"):
        bridge_network(bridge="yun0", subnet=subnet, ipam_dir=Path("/s"))


def test_plugin_config_carries_name_version_and_previous_result() -> None:
    conflist: dict[str, Any] = {"cniVersion": "1.0.0", "name": "net", "plugins": []}
    conflist["plugins"] = [{"type": "a"}, {"type": "b"}]
    first = plugin_config(conflist, conflist["plugins"][0], prev_result=None)
    assert first == {"cniVersion": "1.0.0", "name": "net", "type": "a"}
    second = plugin_config(conflist, conflist["plugins"][1], prev_result={"ips": []})
    assert second == {"cniVersion": "1.0.0", "name": "net", "type": "b", "prevResult": {"ips": []}}


def test_loopback_network_runs_the_loopback_plugin() -> None:
    assert [p["type"] for p in loopback_network()["plugins"]] == ["loopback"]
