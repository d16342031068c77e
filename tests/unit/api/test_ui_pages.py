"""The dashboard's pages in-process: sign-in, its cookies, forms that need their token, and
every value escaped."""

from __future__ import annotations

import json
import threading
import time

import pytest
from fastapi.testclient import TestClient

from yun.ui import views


def signed_in(client: TestClient) -> TestClient:
    client.headers.pop("Authorization", None)  # the dashboard goes by its cookies
    answer = client.post(
        "/ui/login",
        content="username=admin&password=pw&next=/ui/events",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/events"
    cookies = answer.headers.get_list("set-cookie")
    token = next(c for c in cookies if c.startswith("yun_ui_token="))
    assert "HttpOnly" in token and "SameSite=strict" in token and "Path=/ui" in token
    return client


def test_a_page_without_a_session_goes_to_sign_in_and_comes_back(client: TestClient) -> None:
    client.headers.pop("Authorization", None)
    answer = client.get("/ui/apps?space=x", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=/ui/apps%3Fspace%3Dx"


def test_a_wrong_password_shows_the_apis_message(client: TestClient) -> None:
    client.headers.pop("Authorization", None)
    answer = client.post(
        "/ui/login",
        content="username=admin&password=nope",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 401
    assert "wrong username or password" in answer.text
    assert "yun_ui_token" not in answer.headers.get("set-cookie", "")


def test_sign_in_leads_only_to_the_dashboards_own_pages(client: TestClient) -> None:
    client.headers.pop("Authorization", None)
    for target in ("//evil.example/ui/", "https://evil.example/", "/v3/apps"):
        answer = client.post(
            "/ui/login",
            content=f"username=admin&password=pw&next={target}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/ui/apps", target


def test_an_action_without_the_forms_token_changes_nothing(client: TestClient) -> None:
    signed_in(client)
    pushed = client.post(
        "/v3/apps/push",
        json={"application": {"name": "web"}, "start": False},
        headers={"Authorization": f"Bearer {client.cookies['yun_ui_token']}"},
    ).json()

    answer = client.post(
        f"/ui/apps/{pushed['guid']}/start",
        content="csrf=forged",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert "form expired" in answer.headers["set-cookie"]
    app = client.get(
        f"/v3/apps/{pushed['guid']}",
        headers={"Authorization": f"Bearer {client.cookies['yun_ui_token']}"},
    ).json()
    assert app["state"] == "STOPPED"


def test_text_from_anywhere_is_escaped(client: TestClient) -> None:
    signed_in(client)
    client.cookies.set(
        "yun_ui_flash",
        json.dumps({"kind": "error", "text": "<script>alert(1)</script>"}),
        path="/ui",
    )
    answer = client.get("/ui/events")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    page = answer.text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_docs_and_assets_come_from_yun_itself(client: TestClient) -> None:
    docs = client.get("/docs").text
    assert "/ui/vendor/swagger-ui-bundle.js" in docs and "cdn." not in docs
    assert client.get("/ui/static/ui.css").headers["content-type"].startswith("text/css")
    assert client.get("/ui/static/..%2Fviews.py").status_code == 404
    assert client.get("/ui/vendor/nothing.js").status_code == 404


def test_the_log_tail_ends_when_its_session_does(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "RECHECK", 0.0)  # ask the API again at every step
    signed_in(client)
    token = client.cookies["yun_ui_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    pushed = client.post(
        "/v3/apps/push", json={"application": {"name": "tailed"}, "start": False}, headers=bearer
    ).json()
    ended = threading.Timer(1.0, lambda: client.post("/v3/auth/logout", headers=bearer))
    ended.start()

    started = time.monotonic()
    answer = client.get(f"/ui/apps/{pushed['guid']}/logs/stream")

    ended.join()
    assert answer.status_code == 200  # it ran, and ended by itself once the session was over
    assert time.monotonic() - started < 20
