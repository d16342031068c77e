"""JWT on a route through real HAProxy: a request without a token, with a forged, expired or
wrongly keyed one gets 401; a good one (RS256 from a JWKS's RSA key, HS256 from its shared
secret) reaches the app with its claims as headers, and a client cannot send those headers
itself."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace

import pytest
from tests.tokens import Issuer

from yun.jwks import parse_jwks
from yun.router import Policy
from yun.router.control import send_command

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)"
    ),
]

HOST = "api.apps.localhost"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_only_good_tokens_reach_the_app_with_their_claims(router, backend, http, make_route):
    issuer, stranger = Issuer(), Issuer()
    api = backend("api")
    policy = Policy(
        jwt=True,
        jwt_keys=parse_jwks(issuer.jwks(secret=True)),
        jwt_claims=("sub", "email", "preferred_username"),
    )
    router.apply([replace(make_route(HOST, api.server()), policy=policy)])

    good = http(HOST, headers=bearer(issuer.token({"sub": "alice", "email": "a@example.com"})))
    assert good.status == 200
    seen = good.json["headers"]
    assert seen["x-jwt-sub"] == "alice"
    assert seen["x-jwt-email"] == "a@example.com"
    assert "x-jwt-preferred-username" not in seen  # not in this token
    shared = http(HOST, headers=bearer(issuer.token({"sub": "svc"}, alg="HS256")))
    assert shared.status == 200 and shared.json["headers"]["x-jwt-sub"] == "svc"
    unnamed = http(HOST, headers=bearer(issuer.token({"sub": "bob"}, kid="")))
    assert unnamed.status == 200, "a token without kid is tried with each key of its algorithm"

    # A client's own claim headers never reach the app.
    spoofed = http(
        HOST,
        headers={**bearer(issuer.token({"sub": "carol"})), "X-Jwt-Email": "admin@example.com"},
    )
    assert spoofed.status == 200 and "x-jwt-email" not in spoofed.json["headers"]

    hits = api.hits
    refused = {
        "none": {},
        "not a token": bearer("abc.def.ghi"),
        "expired": bearer(issuer.token({"sub": "alice"}, ttl=-5)),
        "another issuer's key": bearer(stranger.token({"sub": "alice"}, kid=issuer.kid)),
        "tampered": bearer(issuer.token({"sub": "alice"})[:-4] + "AAAA"),
        "alg none": bearer(issuer.token({"sub": "alice"}).rsplit(".", 1)[0] + "."),
        "HS256 signed with the public key's kid": bearer(
            issuer.token({"sub": "alice"}, alg="HS256", kid=issuer.kid)
        ),
        "basic auth": {"Authorization": "Basic YWxpY2U6cGFzcw=="},
    }
    for what, headers in refused.items():
        answer = http(HOST, headers=headers)
        assert answer.status == 401, what
        assert answer.headers["www-authenticate"] == "Bearer", what
        assert answer.headers["x-yun-router-error"] == "jwt_refused", what
    assert api.hits == hits  # none of them reached the app


def test_a_route_without_keys_yet_refuses_everyone_and_others_are_untouched(
    router, backend, http, make_route
):
    issuer = Issuer()
    api, web = backend("api"), backend("web")
    guarded = replace(make_route(HOST, api.server()), policy=Policy(jwt=True))
    router.apply([guarded, make_route("web.apps.localhost", web.server())])
    assert http(HOST, headers=bearer(issuer.token({"sub": "alice"}))).status == 401
    assert http("web.apps.localhost").status == 200
    # The keys arrive (a JWKS fetched): a reload, and tokens pass.
    keyed = replace(guarded, policy=Policy(jwt=True, jwt_keys=parse_jwks(issuer.jwks())))
    router.apply([keyed, make_route("web.apps.localhost", web.server())])
    assert http(HOST, headers=bearer(issuer.token({"sub": "alice"}))).status == 200


def test_a_verified_token_is_cached_until_its_exp_and_the_cache_can_be_cleared(
    router, backend, http, make_route
):
    issuer = Issuer()
    api = backend("api")
    policy = Policy(jwt=True, jwt_keys=parse_jwks(issuer.jwks()), jwt_claims=("sub",))
    router.apply([replace(make_route(HOST, api.server()), policy=policy)])
    short = issuer.token({"sub": "alice"}, ttl=2)
    assert http(HOST, headers=bearer(short)).json["headers"]["x-jwt-sub"] == "alice"
    again = http(HOST, headers=bearer(short))  # from the cache, claims still forwarded
    assert again.status == 200 and again.json["headers"]["x-jwt-sub"] == "alice"
    caches = sorted(router.config.run_dir.glob("jwt-cache-*.map"))
    assert len(caches) == 2  # the tokens' `exp`, their `sub`
    for cache in caches:
        assert short in send_command(router.stats_socket, f"show map {cache}")
    anonymous = issuer.token({})  # no `sub`: none forwarded, from the cache either
    for _ in range(2):
        answer = http(HOST, headers=bearer(anonymous))
        assert answer.status == 200 and "x-jwt-sub" not in answer.json["headers"]
    bob = http(HOST, headers=bearer(issuer.token({"sub": "bob"})))
    assert bob.json["headers"]["x-jwt-sub"] == "bob"
    time.sleep(2.5)
    assert http(HOST, headers=bearer(short)).status == 401  # cached, and expired all the same
    forged = short.rsplit(".", 1)[0] + ".AAAA"  # same header and claims, another signature
    assert http(HOST, headers=bearer(forged)).status == 401
    assert router.clear_jwt_caches() == 2
    for cache in caches:
        assert short not in send_command(router.stats_socket, f"show map {cache}")
