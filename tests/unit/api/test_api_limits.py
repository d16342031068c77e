"""Request bodies over the limit are refused with one 413 before any handler runs (nothing
created, an audit event kept); uploads have their own limit."""

from __future__ import annotations

import io
import json
import tarfile

from fastapi.testclient import TestClient

from yun.api.limits import MAX_BODY


def test_a_body_over_the_limit_is_413_and_changes_nothing(client: TestClient) -> None:
    padding = "x" * (MAX_BODY + 1)
    body = json.dumps({"application": {"name": "big", "env": {"PAD": padding}}})
    refused = client.post(
        "/v3/apps/push", content=body, headers={"Content-Type": "application/json"}
    )
    assert refused.status_code == 413
    assert refused.json() == {
        "error": {
            "code": "too_large",
            "message": "request body is larger than 16 MiB",
            "field": None,
        }
    }
    assert client.get("/v3/apps").json()["resources"] == []

    def chunks():  # no Content-Length: counted as it arrives
        for start in range(0, len(body), 1 << 20):
            yield body[start : start + (1 << 20)].encode()

    chunked = client.post(
        "/v3/apps/push", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert chunked.status_code == 413
    events = client.get("/v3/events", params={"type": "audit.request"}).json()["resources"]
    assert [e["data"]["status"] for e in events[:2]] == [413, 413]


def test_a_body_under_the_limit_and_a_large_upload_go_through(client: TestClient) -> None:
    small = client.post("/v3/apps/push", json={"application": {"name": "small"}})
    assert small.status_code == 200
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        data = b"y" * (MAX_BODY + 1024)
        info = tarfile.TarInfo("big.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    uploaded = client.post("/v3/bits", content=archive.getvalue())
    assert uploaded.status_code == 200 and len(uploaded.json()["stored"]) == 1


def test_cors_is_off_a_page_elsewhere_gets_no_allowance(client: TestClient) -> None:
    """No CORS headers: a page on another origin cannot read the API with a user's token."""
    asked = client.options(
        "/v3/apps",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    plain = client.get("/v3/apps", headers={"Origin": "https://evil.example"})
    for answer in (asked, plain):
        assert not any(h.lower().startswith("access-control-") for h in answer.headers)
