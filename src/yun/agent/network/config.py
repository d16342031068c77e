"""The CNI network configurations Yun hands to the plugins.

Yun's instance network is one conflist: the `bridge` plugin (a Linux bridge whose address is the
instances' gateway, outbound NAT through ipMasq, addresses from `host-local` IPAM whose dataDir
lives under Yun's state directory so allocations survive restarts). A second, one-plugin network
brings up `lo` inside the namespace, as containerd and CRI-O do, since runc does not.

The `firewall` plugin is deliberately not chained: its only job is to ACCEPT the container's
traffic in FORWARD, and its rules would land above Yun's own chain and let instances reach each
other. `firewalling.py` accepts instance egress itself, so hosts whose FORWARD policy is DROP
still work. `plugin_config` implements the spec's chaining anyway (each plugin gets the conflist's
`name` and `cniVersion` and the previous result as `prevResult`), so adding plugins is one line.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from yun.agent.network.base import NetworkError

CNI_VERSION = "1.0.0"
BRIDGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")  # Linux: 15 characters at most


def network_name(bridge: str) -> str:
    """The CNI network name; plugins key IPAM directories and iptables comments by it."""
    return f"yun-{bridge}"


def check_bridge_name(bridge: str) -> str:
    if not BRIDGE_NAME.match(bridge):
        raise NetworkError(f"invalid bridge name {bridge!r}: 1-15 letters, digits, '_', '.', '-'")
    return bridge


def check_subnet(subnet: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.ip_network(subnet, strict=True)
    except ValueError as exc:
        raise NetworkError(f"invalid subnet {subnet!r}: {exc}") from exc
    if not isinstance(network, ipaddress.IPv4Network) or network.prefixlen > 30:
        raise NetworkError(f"invalid subnet {subnet!r}: need an IPv4 network of /30 or larger")
    return network


def bridge_network(*, bridge: str, subnet: str, ipam_dir: Path) -> dict[str, Any]:
    """The instance network as a conflist (`plugins` run in order on ADD, reversed on DEL)."""
    return {
        "cniVersion": CNI_VERSION,
        "name": network_name(check_bridge_name(bridge)),
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": str(check_subnet(subnet))}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(ipam_dir),
                },
            }
        ],
    }


def loopback_network() -> dict[str, Any]:
    return {"cniVersion": CNI_VERSION, "name": "yun-loopback", "plugins": [{"type": "loopback"}]}


def plugin_config(
    conflist: Mapping[str, Any], plugin: Mapping[str, Any], *, prev_result: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The stdin of one plugin of a conflist, as the spec builds it for chaining."""
    config = {"cniVersion": conflist["cniVersion"], "name": conflist["name"], **plugin}
    if prev_result is not None:
        config["prevResult"] = dict(prev_result)
    return config
