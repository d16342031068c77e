"""API errors: one clear sentence, an HTTP status in the 4xx range, never a traceback.

Every refusal has one shape, `{"error": {"code", "message", "field"}}`: `code` a stable word a
program can test (`not_found`, `forbidden`, `quota_exceeded`…), `message` the sentence a person
reads, and `field` the request field or argument at fault when there is one (the message then
opens with it: `since: …`), else null.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException


class ErrorDetail(BaseModel):
    code: str = Field(description="A stable word for the kind of refusal, e.g. not_found")
    message: str = Field(description="One sentence, naming the field or argument at fault")
    field: str | None = Field(description="The request field or argument at fault, if any")


class ErrorBody(BaseModel):
    """What every refused call answers."""

    error: ErrorDetail


CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "throttled",
}
_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:[.\[][A-Za-z0-9_\]]+)*): ")


def error_body(
    status: int, message: str, *, code: str | None = None, field: str | None = None
) -> dict[str, Any]:
    """The body of a refusal; `field` is read from the message's opening `name: ` if not given."""
    if field is None and (found := _FIELD.match(message)):
        field = found.group(1)
    return {
        "error": {"code": code or CODES.get(status, "error"), "message": message, "field": field}
    }


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "The request cannot be carried out as it is"),
        (401, "No valid access token"),
        (403, "The caller may not do this"),
        (404, "No such resource"),
        (409, "It conflicts with what is there"),
        (413, "The request body is too large"),
        (422, "A field or argument is wrong; the message names it"),
        (429, "Too many failed attempts; see Retry-After"),
    )
}
"""The error answers documented for every route in the OpenAPI document."""


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.code = code


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


async def quota_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """A change past a quota (`yun.store.quotas`): 422, the quota and its limit named."""
    return JSONResponse(error_body(422, str(exc), code="quota_exceeded"), status_code=422)


async def api_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        error_body(exc.status, exc.message, code=exc.code),
        status_code=exc.status,
        headers=exc.headers,
    )


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    loc = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    message = f"{loc}: {first.get('msg')}" if loc else str(first.get("msg"))
    return JSONResponse(error_body(422, message, field=loc or None), status_code=422)


async def http_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Starlette's and FastAPI's own refusals (an unknown path, a method the path does not
    take, a body that is not JSON) in the same shape as every other error."""
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "the request cannot be carried out"
    if exc.status_code == 400 and "parsing the body" in message:
        message = "the request body is not valid JSON"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = allowed_methods(_request)
        headers["Allow"] = ", ".join(allowed)
        message = f"{_request.method} is not one of this path's methods ({', '.join(allowed)})"
    return JSONResponse(
        error_body(exc.status_code, message), status_code=exc.status_code, headers=headers
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method the API documents for the request's path (all its routes, not only the
    first one that matched the path)."""
    paths: dict[str, Any] = request.app.openapi().get("paths", {})
    path = request.url.path
    if path in paths:  # a literal path wins over templates it also fits (/v3/apps/push)
        return sorted(method.upper() for method in paths[path])
    found: set[str] = set()
    for template, operations in paths.items():
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            found |= {method.upper() for method in operations}
    return sorted(found)
