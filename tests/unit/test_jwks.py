"""JWKS documents as users give them: the keys read from them, and one error naming what is
wrong; JWKS addresses fetched without keeping the router waiting, and kept when a fetch fails."""

from __future__ import annotations

import base64
import json
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from tests.tokens import SECRET, Issuer, b64url

from yun.jwks import JwksCache, check_source, parse_claims, parse_jwks


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


def test_rsa_and_shared_keys_are_read_with_their_ids_and_algorithms(issuer: Issuer) -> None:
    rsa, shared = parse_jwks(issuer.jwks(secret=True))
    assert (rsa.kid, rsa.alg, rsa.secret) == ("key-1", "RS256", False)
    assert rsa.key.startswith("-----BEGIN PUBLIC KEY-----")
    assert (shared.kid, shared.alg, shared.key, shared.secret) == ("shared", "HS256", SECRET, True)


def test_a_single_jwk_an_ec_key_and_encryption_keys(issuer: Issuer) -> None:
    (single,) = parse_jwks(json.dumps(issuer.jwk()))
    assert single.kid == "key-1"
    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    point = {"x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big"))}
    document = {"keys": [{"kty": "EC", "crv": "P-256", **point}, {**issuer.jwk(), "use": "enc"}]}
    (only,) = parse_jwks(json.dumps(document))  # the encryption key is left out
    assert (only.alg, only.kid) == ("ES256", "")


@pytest.mark.parametrize(
    ("document", "error"),
    [
        ("{nope", "not JSON"),
        ('{"keys": {}}', '"keys" list'),
        ('{"keys": []}', "give 1 to 16 keys"),
        ('{"keys": [{"kty": "OKP"}]}', "keys[0]: kty 'OKP'"),
        ('{"keys": [{"kty": "RSA", "e": "AQAB"}]}', "keys[0]: no n"),
        (
            '{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}',
            "of 2048 bits",
        ),
        ('{"keys": [{"kty": "oct", "k": "c2hvcnQ"}]}', "keys[0]: the secret (k)"),
        ('{"keys": [{"kty": "oct", "alg": "RS256", "k": "x"}]}', "alg 'RS256' does not go"),
        ('{"keys": [{"kty": "EC", "crv": "P-192", "x": "AA", "y": "AA"}]}', "crv 'P-192'"),
        ('{"keys": [{"kty": "RSA", "kid": "a b"}]}', "keys[0]: kid 'a b'"),
    ],
)
def test_a_wrong_document_is_refused_naming_the_key_and_field(document: str, error: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_jwks(document)
    assert error in str(raised.value)


def test_a_secret_haproxy_cannot_carry_is_refused() -> None:
    quoted = base64.urlsafe_b64encode(b"it's a secret with a quote").decode()
    with pytest.raises(ValueError, match="printable"):
        parse_jwks(json.dumps({"keys": [{"kty": "oct", "k": quoted}]}))


def test_sources_and_claims() -> None:
    check_source("https://id.example.com/.well-known/jwks.json")
    with pytest.raises(ValueError, match="one URL"):
        check_source("https://id.example.com/a b")
    assert parse_claims(" sub, email ,sub") == ("sub", "email")
    with pytest.raises(ValueError, match=r"claim 'a\.b'"):
        parse_claims("a.b")


def test_an_address_is_fetched_in_the_background_and_kept_when_a_fetch_fails(
    issuer: Issuer,
) -> None:
    url = "https://id.example.com/jwks.json"
    answers = [issuer.jwks(), OSError("connection refused")]
    fetched, changed, gate = threading.Event(), threading.Event(), threading.Event()

    def fetch(address: str) -> str:
        assert address == url
        assert gate.wait(5)
        answer = answers.pop(0)
        fetched.set()
        if isinstance(answer, Exception):
            raise answer
        return answer

    cache = JwksCache(fetch, changed=changed.set, refresh=0.0, retry=60.0)
    assert cache.keys(url) == ()  # not fetched yet: the router refuses tokens meanwhile
    gate.set()
    assert changed.wait(5)
    changed.clear()
    fetched.clear()
    (key,) = cache.keys(url)  # due again at once (refresh 0): a second fetch starts, and fails
    assert key.kid == "key-1"
    assert fetched.wait(5)
    while (due := cache.next_due()) is None:
        pass
    assert 0 < due <= 60  # the failure is retried later …
    assert cache.keys(url) == (key,)  # … and the keys read before are kept
    assert not changed.is_set()


def test_a_given_document_needs_no_fetch(issuer: Issuer) -> None:
    cache = JwksCache(lambda url: pytest.fail("fetched"), background=False)
    assert cache.keys(issuer.jwks())[0].kid == "key-1"
    assert cache.next_due() is None
