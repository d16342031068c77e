"""Route policies through the API: `GET /v3/routes`, `PATCH /v3/routes/{guid}`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.tokens import SECRET, Issuer, b64url

from yun.cli.output import CliError
from yun.cli.routes import parse_options


def _route(client: TestClient) -> dict[str, object]:
    client.post("/v3/apps/push", json={"application": {"name": "shop"}})
    (route,) = client.get("/v3/routes").json()["resources"]
    return dict(route)


def test_a_route_lists_its_apps_and_default_policy(client: TestClient) -> None:
    route = _route(client)
    assert route["url"] == "shop.apps.localhost"
    assert route["apps"] == ["shop"]
    assert route["options"] == {"loadbalancing": "round-robin", "sticky": True}


def test_options_change_and_wake_the_router(client: TestClient, woken: list[str]) -> None:
    guid = _route(client)["guid"]
    woken.clear()
    reply = client.patch(
        f"/v3/routes/{guid}",
        json={"loadbalancing": "hash", "hash_header": "X-User", "timeout": 30},
    )
    assert reply.status_code == 200
    assert reply.json()["options"] == {
        "loadbalancing": "hash",
        "hash_header": "X-User",
        "sticky": True,
        "timeout": 30.0,
    }
    assert "routes" in woken
    back = client.patch(f"/v3/routes/{guid}", json={"loadbalancing": "least-connection"})
    assert "hash_header" not in back.json()["options"]


def test_bad_options_are_422_naming_the_field(client: TestClient) -> None:
    guid = _route(client)["guid"]
    wrong = client.patch(f"/v3/routes/{guid}", json={"loadbalancing": "random"})
    assert wrong.status_code == 422 and "loadbalancing" in wrong.json()["error"]["message"]
    unhashed = client.patch(f"/v3/routes/{guid}", json={"loadbalancing": "hash"})
    assert unhashed.status_code == 422 and "hash_header" in unhashed.json()["error"]["message"]
    header = client.patch(f"/v3/routes/{guid}", json={"hash_header": "bad header"})
    assert header.status_code == 422 and "hash_header" in header.json()["error"]["message"]
    assert client.get("/v3/routes").json()["resources"][0]["options"]["loadbalancing"] == (
        "round-robin"
    )  # nothing half-applied


def test_cli_option_pairs() -> None:
    assert parse_options(["loadbalancing=hash", "hash-header=X-User", "sticky=false"]) == {
        "loadbalancing": "hash",
        "hash_header": "X-User",
        "sticky": False,
    }
    assert parse_options(["timeout=30s"]) == {"timeout": 30.0}
    for bad in ("speed=fast", "sticky=maybe", "timeout=soon", "loadbalancing"):
        try:
            parse_options([bad])
        except CliError as exc:
            assert bad.split("=")[0].replace("-", "_") in str(exc) or bad in str(exc)
        else:
            raise AssertionError(f"{bad} was accepted")


def _push(client: TestClient, *routes: dict[str, object]) -> int:
    application = {"name": "shop", "routes": list(routes)}
    return client.post("/v3/apps/push", json={"application": application}).status_code


def test_manifest_route_options_set_the_routes_policy(client: TestClient) -> None:
    given = {"loadbalancing": "least-connection", "timeout": 5}
    assert _push(client, {"route": "shop.apps.localhost", "options": given}) == 200
    assert _push(client, {"route": "www.apps.localhost"}) == 200

    routes = {r["url"]: r["options"] for r in client.get("/v3/routes").json()["resources"]}
    assert routes["shop.apps.localhost"] == {
        "loadbalancing": "least-connection",
        "sticky": True,
        "timeout": 5.0,
    }
    assert routes["www.apps.localhost"] == {"loadbalancing": "round-robin", "sticky": True}

    # A push whose manifest gives no options keeps the policy set before (yun update-route too).
    assert _push(client, {"route": "shop.apps.localhost"}) == 200
    kept = client.get("/v3/routes").json()["resources"]
    assert {r["url"]: r["options"] for r in kept}["shop.apps.localhost"]["timeout"] == 5.0


def test_bad_manifest_route_options_are_422_and_change_nothing(client: TestClient) -> None:
    reply = client.post(
        "/v3/apps/push",
        json={
            "application": {
                "name": "shop",
                "routes": [{"route": "shop.apps.localhost", "options": {"loadbalancing": "fast"}}],
            }
        },
    )

    assert reply.status_code == 422
    assert "routes[0].options.loadbalancing" in reply.json()["error"]["message"]
    assert client.get("/v3/apps").json()["resources"] == []
    assert client.get("/v3/routes").json()["resources"] == []


def test_the_protocol_option_is_http1_or_http2(client: TestClient) -> None:
    guid = _route(client)["guid"]
    made = client.patch(f"/v3/routes/{guid}", json={"protocol": "http2"})
    assert made.status_code == 200 and made.json()["options"]["protocol"] == "http2"
    wrong = client.patch(f"/v3/routes/{guid}", json={"protocol": "h3"})
    assert wrong.status_code == 422 and "protocol" in wrong.json()["error"]["message"]
    assert parse_options(["protocol=HTTP2"]) == {"protocol": "http2"}


def test_gateway_options_are_checked_kept_and_taken_off(client: TestClient) -> None:
    guid = _route(client)["guid"]
    made = client.patch(
        f"/v3/routes/{guid}",
        json={"rate_limit": "100/1s", "max_body": "1m", "allow": "10.0.0.0/8, 192.0.2.7"},
    )
    assert made.status_code == 200, made.text
    options = made.json()["options"]
    assert (options["rate_limit"], options["max_body"]) == ("100/1s", "1m")
    for body, field in (
        ({"rate_limit": "fast"}, "rate_limit"),
        ({"rate_limit": "0/1s"}, "rate_limit"),
        ({"max_body": "lots"}, "max_body"),
        ({"deny": "10.0.0.300"}, "deny"),
        ({"circuit_breaker": "many"}, "circuit_breaker"),
        ({"retries": "20"}, "retries"),
    ):
        wrong = client.patch(f"/v3/routes/{guid}", json=body)
        assert wrong.status_code == 422 and field in wrong.json()["error"]["message"], body
    kept = client.patch(f"/v3/routes/{guid}", json={"circuit_breaker": "5/30s", "retries": "2"})
    assert kept.json()["options"]["circuit_breaker"] == "5/30s"
    off = client.patch(f"/v3/routes/{guid}", json={"rate_limit": ""}).json()["options"]
    assert "rate_limit" not in off and off["max_body"] == "1m"
    assert parse_options(["rate-limit=5/10s", "allow=127.0.0.1"]) == {
        "rate_limit": "5/10s",
        "allow": "127.0.0.1",
    }


def test_manifest_gateway_options_are_read_and_wrong_ones_named(client: TestClient) -> None:
    options = {"rate_limit": "20/10s", "deny": ["192.0.2.0/24", "198.51.100.7"]}
    assert _push(client, {"route": "shop.apps.localhost", "options": options}) == 200
    (route,) = client.get("/v3/routes").json()["resources"]
    assert route["options"]["deny"] == "192.0.2.0/24,198.51.100.7"
    reply = client.post(
        "/v3/apps/push",
        json={
            "application": {
                "name": "shop",
                "routes": [{"route": "shop.apps.localhost", "options": {"max_body": "big"}}],
            }
        },
    )
    assert reply.status_code == 422
    assert "routes[0].options.max_body" in reply.json()["error"]["message"]


def test_jwt_options_are_checked_and_a_given_jwks_is_shown_without_its_secret(
    client: TestClient, tmp_path: Path
) -> None:
    guid = _route(client)["guid"]
    jwks = Issuer().jwks(secret=True)
    made = client.patch(f"/v3/routes/{guid}", json={"jwt_jwks": jwks, "jwt_claims": "sub,email"})
    assert made.status_code == 200, made.text
    shown = made.json()["options"]
    assert shown["jwt_jwks"] == "JWKS: key-1 RS256, shared HS256"
    assert SECRET not in made.text and b64url(SECRET.encode()) not in made.text
    assert shown["jwt_claims"] == "sub,email"
    for body, message in (
        ({"jwt_jwks": '{"keys": [{"kty": "RSA"}]}'}, "jwt_jwks: keys[0]: no n"),
        ({"jwt_jwks": "keys.json"}, "jwt_jwks: not JSON"),
        ({"jwt_claims": "sub,e mail"}, "jwt_claims: claim 'e mail'"),
    ):
        wrong = client.patch(f"/v3/routes/{guid}", json=body)
        assert wrong.status_code == 422 and message in wrong.json()["error"]["message"], body
    address = "https://id.example.com/.well-known/jwks.json"
    moved = client.patch(f"/v3/routes/{guid}", json={"jwt_jwks": address}).json()["options"]
    assert moved["jwt_jwks"] == address
    (tmp_path / "jwks.json").write_text(jwks)
    assert parse_options([f"jwt_jwks=@{tmp_path / 'jwks.json'}"]) == {"jwt_jwks": jwks}
    with pytest.raises(CliError, match="cannot read"):
        parse_options([f"jwt_jwks=@{tmp_path / 'missing.json'}"])


def test_a_manifest_gives_a_jwks_written_as_yaml(client: TestClient) -> None:
    jwks = json.loads(Issuer().jwks())
    options = {"jwt_jwks": jwks, "jwt_claims": "sub"}
    assert _push(client, {"route": "shop.apps.localhost", "options": options}) == 200
    (route,) = client.get("/v3/routes").json()["resources"]
    assert route["options"]["jwt_jwks"] == "JWKS: key-1 RS256"
    wrong = {"jwt_jwks": {"keys": [{"kty": "oct", "k": "c2hvcnQ"}]}}
    reply = client.post(
        "/v3/apps/push",
        json={
            "application": {
                "name": "shop",
                "routes": [{"route": "shop.apps.localhost", "options": wrong}],
            }
        },
    )
    assert reply.status_code == 422
    assert "routes[0].options.jwt_jwks: keys[0]: the secret (k)" in reply.json()["error"]["message"]
