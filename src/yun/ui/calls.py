"""The dashboard's way to the platform: the same API the CLI calls, called in-process.

Every read and every action of a page is an API call with the signed-in user's access token,
through the whole application (access policy, validation, quotas, audit), so the dashboard can
do exactly what the user's CLI can, and a refusal comes back with the API's own message. The
tokens live in cookies (HttpOnly, SameSite=Strict, path /ui): the access token, and the
refresh token that renews it when it runs out, as the CLI does.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

ACCESS, REFRESH, CSRF = "yun_ui_token", "yun_ui_refresh", "yun_ui_csrf"
COOKIE_PATH = "/ui"


class Refused(Exception):
    """The API said no: its status and its message, for the page to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def message_of(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or f"HTTP {response.status_code}"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return str(error or body)[:300]


@dataclass
class Tokens:
    access: str
    refresh: str


class Caller:
    """One page's calls, as the user whose cookies came with the request."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.tokens = Tokens(request.cookies.get(ACCESS, ""), request.cookies.get(REFRESH, ""))
        self.renewed: Tokens | None = None
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(
                app=request.app, client=(request.client.host if request.client else "ui", 0)
            ),
            base_url="http://yun.internal",
            timeout=120,
        )

    @property
    def signed_in(self) -> bool:
        return bool(self.tokens.access or self.tokens.refresh)

    async def __aenter__(self) -> Caller:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def call(
        self, method: str, path: str, *, renew: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """The API's answer; an expired access token is renewed once with the refresh token
        (unless not `renew`: a response already streaming cannot carry the new cookies)."""
        answer = await self._send(method, path, **kwargs)
        if answer.status_code == 401 and self.tokens.refresh and renew:
            renewed = await self._client.post(
                "/v3/auth/refresh", json={"refresh_token": self.tokens.refresh}
            )
            if renewed.status_code == 200:
                body = renewed.json()
                self.tokens = self.renewed = Tokens(body["access_token"], body["refresh_token"])
                answer = await self._send(method, path, **kwargs)
        return answer

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens.access}"} if self.tokens.access else {}
        forwarded = self.request.headers.get("x-request-id")
        if forwarded:
            headers["X-Request-Id"] = forwarded
        return await self._client.request(method, path, headers=headers, **kwargs)

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The answer's JSON; Refused with the API's message for a 4xx or 5xx."""
        answer = await self.call(method, path, **kwargs)
        if answer.status_code >= 400:
            raise Refused(answer.status_code, message_of(answer))
        return answer.json()

    async def get(self, path: str, **params: Any) -> Any:
        return await self.json("GET", path, params=params or None)

    def keep(self, response: Response) -> Response:
        """`response`, carrying the renewed tokens if the calls renewed them."""
        if self.renewed is not None:
            set_tokens(response, self.renewed, secure=self.request.url.scheme == "https")
        return response


def set_tokens(response: Response, tokens: Tokens, *, secure: bool) -> None:
    for name, value in ((ACCESS, tokens.access), (REFRESH, tokens.refresh)):
        response.set_cookie(
            name, value, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure
        )


def new_csrf(response: Response, *, secure: bool) -> str:
    """A fresh token for the forms (also sent as a cookie: the two must match on a POST)."""
    token = secrets.token_urlsafe(24)
    response.set_cookie(
        CSRF, token, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure
    )
    return token


def forget(response: Response) -> None:
    for name in (ACCESS, REFRESH, CSRF):
        response.delete_cookie(name, path=COOKIE_PATH)
