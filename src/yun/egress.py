"""Application security groups' rules: where instances may open connections beyond the bridge.

The rules are Cloud Foundry's JSON, a list of objects:

    [{"protocol": "tcp", "destination": "10.0.11.0/24", "ports": "80,443",
      "description": "the billing API"},
     {"protocol": "icmp", "destination": "0.0.0.0/0", "type": 0, "code": 0},
     {"protocol": "all", "destination": "10.0.0.1-10.0.0.255"}]

- `protocol`: tcp, udp, icmp or all.
- `destination`: an address, a CIDR block, a range `FIRST-LAST`, or several of those
  separated by commas.
- `ports` (tcp and udp only, and needed there): a port, a range `8000-9000`, or a comma list.
- `type` and `code` (icmp only, -1 or left out: any).
- `description` and `log` are kept and shown.

The API checks the rules with `parse_rules` (errors name the rule and the field); the network
turns them into nftables rules. Both read them from here, so they agree on what a rule means.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

PROTOCOLS = ("tcp", "udp", "icmp", "all")
KNOWN_FIELDS = {"protocol", "destination", "ports", "type", "code", "description", "log"}


@dataclass(frozen=True)
class EgressRule:
    protocol: str
    destinations: tuple[str, ...]  # "10.0.0.1", "10.0.0.0/8", "10.0.0.1-10.0.0.9"
    ports: tuple[tuple[int, int], ...] = ()
    icmp_type: int = -1
    icmp_code: int = -1


def parse_rules(data: Any) -> list[EgressRule]:
    """The rules of a security group's JSON; ValueError naming the rule and field."""
    if not isinstance(data, list):
        raise ValueError('rules: a JSON list of rule objects, e.g. [{"protocol": "all", ...}]')
    return [_rule(i, item) for i, item in enumerate(data)]


def _rule(index: int, item: Any) -> EgressRule:
    where = f"rules[{index}]"
    if not isinstance(item, dict):
        raise ValueError(f"{where}: an object with protocol and destination")
    unknown = sorted(set(item) - KNOWN_FIELDS)
    if unknown:
        raise ValueError(
            f"{where}.{unknown[0]}: not a rule field ({', '.join(sorted(KNOWN_FIELDS))})"
        )
    protocol = item.get("protocol")
    if protocol not in PROTOCOLS:
        raise ValueError(f"{where}.protocol: {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    destinations = _destinations(f"{where}.destination", item.get("destination"))
    ports: tuple[tuple[int, int], ...] = ()
    if protocol in ("tcp", "udp"):
        ports = _ports(f"{where}.ports", item.get("ports"))
    elif item.get("ports") not in (None, ""):
        raise ValueError(f"{where}.ports: only tcp and udp rules have ports")
    icmp = [_icmp(f"{where}.{key}", item.get(key)) for key in ("type", "code")]
    if protocol != "icmp" and any(value != -1 for value in icmp):
        raise ValueError(f"{where}.type: only icmp rules have a type and code")
    return EgressRule(protocol, destinations, ports, icmp[0], icmp[1])


def _destinations(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: an address, CIDR block or FIRST-LAST range is needed")
    found = []
    for part in (p.strip() for p in value.split(",")):
        try:
            if "-" in part:
                first, last = (ipaddress.IPv4Address(x.strip()) for x in part.split("-", 1))
                if first > last:
                    raise ValueError("the range starts after it ends")
                found.append(f"{first}-{last}")
            elif "/" in part:
                found.append(str(ipaddress.IPv4Network(part, strict=False)))
            else:
                found.append(str(ipaddress.IPv4Address(part)))
        except ValueError as exc:
            message = f"{where}: {part!r} is not an IPv4 address, block or range ({exc})"
            raise ValueError(message) from None
    return tuple(found)


def _ports(where: str, value: Any) -> tuple[tuple[int, int], ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: tcp and udp rules need ports (443, 80,443 or 8000-9000)")
    found = []
    for part in (p.strip() for p in value.split(",")):
        ends = [x.strip() for x in part.split("-")]
        if len(ends) > 2 or not all(x.isdigit() for x in ends):
            raise ValueError(f"{where}: {part!r} is not a port or a range of ports")
        start, end = int(ends[0]), int(ends[-1])
        if not 1 <= start <= end <= 65535:
            raise ValueError(f"{where}: {part!r}: ports are 1 to 65535, a range low to high")
        found.append((start, end))
    return tuple(found)


def _icmp(where: str, value: Any) -> int:
    if value is None:
        return -1
    if not isinstance(value, int) or isinstance(value, bool) or not -1 <= value <= 255:
        raise ValueError(f"{where}: a number from 0 to 255 (-1: any)")
    return value


# Cloud Foundry's default running groups: everything but the private, loopback and link-local
# ranges (public_networks), and DNS anywhere (dns).
PUBLIC_NETWORKS = [
    {"protocol": "all", "destination": "0.0.0.0-9.255.255.255"},
    {"protocol": "all", "destination": "11.0.0.0-169.253.255.255"},
    {"protocol": "all", "destination": "169.255.0.0-172.15.255.255"},
    {"protocol": "all", "destination": "172.32.0.0-192.167.255.255"},
    {"protocol": "all", "destination": "192.169.0.0-255.255.255.255"},
]
DNS = [
    {"protocol": "tcp", "destination": "0.0.0.0/0", "ports": "53"},
    {"protocol": "udp", "destination": "0.0.0.0/0", "ports": "53"},
]
DEFAULT_GROUPS = {"public_networks": PUBLIC_NETWORKS, "dns": DNS}
