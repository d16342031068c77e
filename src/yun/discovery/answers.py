"""What the internal DNS answers, from a table of names: a pure function of the query.

- `NAME.apps.internal` A (or AAAA): the address of each healthy instance, in a new order for
  each query so clients that take the first spread over all of them; SRV: one record per
  instance with its port, naming `INDEX.NAME.apps.internal`, whose addresses come along.
- `INDEX.NAME.apps.internal`: that instance alone, as Cloud Foundry names them.
- Another name under an internal domain: NXDOMAIN. Any other name: None (the server forwards
  it to the host's resolvers).

The answers are authoritative, with a TTL of one second: instances come and go.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

TTL = 1
_T = TypeVar("_T")


@dataclass(frozen=True)
class Target:
    """One healthy instance behind a name."""

    address: str
    port: int
    index: int


# Lowercase names without the trailing dot → the instances behind each.
Names = Mapping[str, Sequence[Target]]


def answer(
    query: dns.message.Message, names: Names, zones: Sequence[str], turn: int = 0
) -> dns.message.Message | None:
    """The response to `query`, or None when its name is not under one of `zones`. `turn`
    rotates the order of addresses (a counter the server moves on for each query)."""
    if len(query.question) != 1:
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.FORMERR)
        return response
    question = query.question[0]
    qname = question.name.to_text(omit_final_dot=True).lower()
    if not any(qname == zone or qname.endswith("." + zone) for zone in zones):
        return None
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    response.flags &= ~dns.flags.RA
    targets = _targets(qname, names)
    if targets is None:
        if qname not in zones:  # the zone itself exists; nothing else under it does
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response
    if question.rdclass != dns.rdataclass.IN or not targets:
        return response
    kind = question.rdtype
    if kind in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.ANY):
        family = 6 if kind == dns.rdatatype.AAAA else 4
        addresses = _addresses(targets, family, turn)
        if addresses:
            response.answer.append(_rrset(question.name, "AAAA" if family == 6 else "A", addresses))
    elif kind == dns.rdatatype.SRV:
        ordered = _rotated(sorted(targets, key=lambda t: t.index), turn)
        records = [f"0 1 {t.port} {t.index}.{qname}." for t in ordered]
        response.answer.append(_rrset(question.name, "SRV", records))
        for target in ordered:
            record = "AAAA" if ipaddress.ip_address(target.address).version == 6 else "A"
            name = dns.name.from_text(f"{target.index}.{qname}")
            response.additional.append(_rrset(name, record, [target.address]))
    return response


def _targets(qname: str, names: Names) -> Sequence[Target] | None:
    """The instances a name stands for; None when it names nothing."""
    found = names.get(qname)
    if found is not None:
        return found
    first, _, rest = qname.partition(".")
    if first.isdigit() and rest in names:
        chosen = [target for target in names[rest] if target.index == int(first)]
        return chosen or None
    return None


def _addresses(targets: Sequence[Target], family: int, turn: int) -> list[str]:
    seen: dict[str, None] = {}
    for target in targets:
        if ipaddress.ip_address(target.address).version == family:
            seen.setdefault(target.address, None)
    return _rotated(list(seen), turn)


def _rotated(items: list[_T], turn: int) -> list[_T]:
    if not items:
        return items
    shift = turn % len(items)
    return items[shift:] + items[:shift]


def _rrset(name: dns.name.Name, kind: str, values: Sequence[str]) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(name, TTL, "IN", kind, list(values))
