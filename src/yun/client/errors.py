"""The client's error: the server's sentence, and the HTTP status it came with."""

from __future__ import annotations

import httpx


def message_of(response: httpx.Response) -> str:
    """The server's sentence: `{"error": {"message": …}}`, or an older server's `{"error": …}`."""
    try:
        body = response.json()
        error = body.get("error") or body.get("detail")
        return str(error.get("message") if isinstance(error, dict) else error)
    except (ValueError, AttributeError):
        return response.text.strip() or response.reason_phrase


class ApiError(Exception):
    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status
