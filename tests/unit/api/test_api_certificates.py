"""Certificates through the API: an ACME order asked for is stored due now and wakes the ACME
controller; wrong input is one 422 naming the option, and nothing is stored."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_an_acme_order_is_stored_due_now_and_wakes_the_acme_controller(
    client: TestClient, woken: list[str]
) -> None:
    made = client.put(
        "/v3/certificates/WWW.Example.COM",
        json={"acme": {"directory": "https://ca.example.test/dir", "email": "ops@example.com"}},
    )
    assert made.status_code == 200, made.text
    view = made.json()
    assert (view["name"], view["source"], view["state"]) == ("www.example.com", "acme", "ordering")
    assert view["not_after"] is None and view["days_left"] is None
    assert view["acme"]["directory"] == "https://ca.example.test/dir"
    assert view["acme"]["email"] == "ops@example.com"
    assert "acme" in woken
    assert client.get("/v3/certificates/www.example.com").json() == view
    assert [r["name"] for r in client.get("/v3/certificates").json()["resources"]] == [
        "www.example.com"
    ]


def test_an_acme_order_without_a_directory_goes_to_the_platforms(client: TestClient) -> None:
    made = client.put("/v3/certificates/shop.example.com", json={"acme": {}}).json()
    assert made["acme"]["directory"] == "https://acme-v02.api.letsencrypt.org/directory"


def test_wrong_acme_input_is_one_422_naming_the_option(client: TestClient) -> None:
    cases = [
        ("*.example.com", {"acme": {}}, "--acme: *.example.com is a wildcard"),
        ("www.example.com", {"acme": {"directory": "ftp://x/dir"}}, "--directory:"),
        ("www.example.com", {"acme": {"email": "nobody"}}, "--email:"),
        ("www.example.com", {}, "--cert:"),
        ("www.example.com", {"cert": "x"}, "--key:"),
        ("not a name", {"acme": {}}, "not a domain name"),
    ]
    for name, body, expected in cases:
        refused = client.put(f"/v3/certificates/{name}", json=body)
        assert refused.status_code == 422, (name, body, refused.text)
        assert expected in refused.json()["error"]["message"], refused.json()
    assert client.get("/v3/certificates").json()["resources"] == []


def test_an_unknown_certificate_is_404(client: TestClient) -> None:
    missing = client.get("/v3/certificates/nothing.example.com")
    assert missing.status_code == 404
    assert "yun certificates" in missing.json()["error"]["message"]
