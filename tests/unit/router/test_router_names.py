"""Yun ids become HAProxy names and back without loss."""

from __future__ import annotations

import re

import pytest

from yun.router import backend_id, backend_name
from yun.router.routes import decode_name, encode_name

HAPROXY_NAME = re.compile(r"[A-Za-z0-9_.:-]+")


@pytest.mark.parametrize(
    "text",
    [
        "5f1c2a9e-0b7d-4c1e-9a63-2f8d7c1b0e44",
        "idx-0",
        "my app",
        "a:b",
        ":3a",
        "web/worker#1",
        "ünïcödé ☃",
        'quote"and\\back',
    ],
)
def test_names_round_trip_through_haproxy_charset(text):
    name = backend_name(text)

    assert HAPROXY_NAME.fullmatch(name)
    assert backend_id(name) == text
    assert decode_name(encode_name(text)) == text


def test_safe_ids_keep_their_spelling():
    assert backend_name("5f1c2a9e-0b7d.web_1") == "be_5f1c2a9e-0b7d.web_1"
    assert encode_name("idx-0") == "idx-0"


def test_router_own_backends_have_no_yun_id():
    assert backend_id("yun_unknown_route") is None
    assert backend_id("yun_http") is None


def test_empty_names_are_refused():
    with pytest.raises(ValueError):
        encode_name("")
