"""What the internal DNS answers for names under its zones, and what it leaves to the host."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode

from yun.discovery.answers import Target, answer

ZONES = ("apps.internal",)
NAMES = {
    "api.apps.internal": [
        Target("10.244.0.5", 8080, 0),
        Target("10.244.0.6", 8080, 1),
        Target("10.244.0.7", 8080, 2),
    ],
    "solo.apps.internal": [Target("fd00::5", 8080, 0)],
    "idle.apps.internal": [],
}


def ask(name: str, kind: str = "A", turn: int = 0) -> dns.message.Message:
    response = answer(dns.message.make_query(name, kind), NAMES, ZONES, turn)
    assert response is not None
    return response


def values(response: dns.message.Message, section: str = "answer") -> list[str]:
    return [item.to_text() for rrset in getattr(response, section) for item in rrset]


def test_a_name_gives_every_instance_in_a_new_order_each_time() -> None:
    first, second = ask("api.apps.internal", turn=0), ask("API.apps.internal.", turn=1)
    assert values(first) == ["10.244.0.5", "10.244.0.6", "10.244.0.7"]
    assert values(second) == ["10.244.0.6", "10.244.0.7", "10.244.0.5"]
    assert first.flags & dns.flags.AA
    assert first.answer[0].ttl == 1


def test_srv_names_each_instance_with_its_port_and_address() -> None:
    response = ask("api.apps.internal", "SRV")
    assert values(response) == [
        "0 1 8080 0.api.apps.internal.",
        "0 1 8080 1.api.apps.internal.",
        "0 1 8080 2.api.apps.internal.",
    ]
    assert values(response, "additional") == ["10.244.0.5", "10.244.0.6", "10.244.0.7"]


def test_an_index_names_one_instance() -> None:
    assert values(ask("1.api.apps.internal")) == ["10.244.0.6"]
    assert ask("9.api.apps.internal").rcode() == dns.rcode.NXDOMAIN


def test_ipv6_addresses_are_aaaa_records() -> None:
    assert values(ask("solo.apps.internal", "AAAA")) == ["fd00::5"]
    nodata = ask("solo.apps.internal", "A")
    assert nodata.rcode() == dns.rcode.NOERROR and nodata.answer == []


def test_unknown_names_under_the_zone_do_not_exist_and_idle_ones_have_no_address() -> None:
    assert ask("nothing.apps.internal").rcode() == dns.rcode.NXDOMAIN
    for name in ("idle.apps.internal", "apps.internal"):
        response = ask(name)
        assert response.rcode() == dns.rcode.NOERROR and response.answer == [], name


def test_names_outside_the_zones_are_left_to_the_host() -> None:
    query = dns.message.make_query("example.com", "A")
    assert answer(query, NAMES, ZONES) is None
    assert answer(dns.message.make_query("evilapps.internal", "A"), NAMES, ZONES) is None


def test_a_query_of_two_questions_is_refused_as_malformed() -> None:
    query = dns.message.make_query("api.apps.internal", "A")
    query.question.append(dns.message.make_query("x.apps.internal", "A").question[0])
    response = answer(query, NAMES, ZONES)
    assert response is not None and response.rcode() == dns.rcode.FORMERR
