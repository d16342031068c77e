"""The Open Service Broker API (v2.17) in front of Yun's built-in backends.

`yun server` mounts `BuiltinBroker(...).router` so that its own platform, or any other OSB
platform, can create PostgreSQL and Redis services. This module is the HTTP side only: basic
auth, the `X-Broker-API-Version` check, reading request bodies, and turning `OsbError`s into the
spec's `{"error"?, "description"}` replies. What a request comes to is decided in
`osb_operations`; what is remembered lives in `osb_state`.

Credentials are checked before the version header, so a caller without credentials learns
nothing but 401. Beyond the spec, two endpoints move backups: `POST .../backups` streams a dump
back, `PUT .../restore` takes one as the raw body; both name the dump's format in
`X-Yun-Backup-Format`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import logging
import re
import shutil
import tempfile
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from yun.brokers.builtin.base import ServiceBackend
from yun.brokers.builtin.osb_operations import (
    UNEXPECTED,
    BrokerSettings,
    Operations,
    OsbError,
    Reply,
)
from yun.brokers.builtin.osb_state import StateFile

log = logging.getLogger(__name__)

MIN_API_MINOR = 13
FORMAT_HEADER = "X-Yun-Backup-Format"
REQUEST_IDENTITY = "X-Broker-API-Request-Identity"
REALM = 'Basic realm="yun built-in brokers"'
_VERSION = re.compile(r"(\d+)\.(\d+)")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,199}")

Guard = Callable[[Request], Response | None]


def catalog(backends: Sequence[ServiceBackend]) -> dict[str, Any]:
    """`GET /v2/catalog`'s body for these backends' offerings."""
    return {
        "services": [
            {
                "id": offering.id,
                "name": offering.name,
                "description": offering.description,
                "bindable": offering.bindable,
                "plan_updateable": offering.plan_updateable,
                "instances_retrievable": True,
                "bindings_retrievable": True,
                "tags": list(offering.tags),
                "metadata": dict(offering.metadata),
                "plans": [
                    {
                        "id": plan.id,
                        "name": plan.name,
                        "description": plan.description,
                        "free": plan.free,
                        "metadata": dict(plan.metadata),
                        "maximum_polling_duration": plan.maximum_polling_duration,
                    }
                    for plan in offering.plans
                ],
            }
            for offering in (backend.offering for backend in backends)
        ]
    }


def _check_catalog(backends: Sequence[ServiceBackend]) -> None:
    offerings = [backend.offering for backend in backends]
    for what, values in (
        ("offering id", [offering.id for offering in offerings]),
        ("offering name", [offering.name for offering in offerings]),
        ("plan id", [plan.id for offering in offerings for plan in offering.plans]),
    ):
        twice = sorted({value for value in values if values.count(value) > 1})
        if twice:
            raise ValueError(f"built-in broker: {what} {', '.join(twice)} is used twice")


def _error(exc: OsbError) -> JSONResponse:
    body = {"description": exc.description}
    if exc.error:
        body["error"] = exc.error
    return JSONResponse(body, status_code=exc.status)


def _reply(reply: Reply) -> JSONResponse:
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


def _validation_line(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if errors and errors[0].get("type") == "json_invalid":
        return "the request body is not valid JSON"
    return str(errors[0].get("msg")) if errors else "the request is malformed"


def _guarded_route(guard: Guard) -> type[APIRoute]:
    """A route class that checks every request with `guard` before FastAPI reads it, and
    answers errors as the spec's JSON (a router cannot register exception handlers)."""

    class OsbRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                response = guard(request)
                if response is None:
                    try:
                        response = await handler(request)
                    except OsbError as exc:
                        response = _error(exc)
                    except RequestValidationError as exc:
                        response = _error(OsbError(400, _validation_line(exc)))
                    except Exception:
                        log.exception("built-in broker: %s %s", request.method, request.url.path)
                        response = _error(OsbError(500, UNEXPECTED))
                identity = request.headers.get(REQUEST_IDENTITY)
                if identity:
                    response.headers[REQUEST_IDENTITY] = identity
                return response

            return guarded

    return OsbRoute


def _body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise OsbError(400, "the request body must be a JSON object")
    return body


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise OsbError(400, f"{key} must be a non-empty string")
    return value


def _mapping(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise OsbError(400, f"{key} must be a JSON object")
    return value


def _query(value: str | None, key: str) -> str:
    if not value:
        raise OsbError(400, f"the {key} query parameter is required")
    return value


def _id(value: str, what: str) -> str:
    if not _ID.fullmatch(value):
        raise OsbError(400, f"{what} {value!r} may only use letters, digits and . _ ~ -")
    return value


def _async(accepts_incomplete: str | None) -> None:
    if (accepts_incomplete or "").lower() != "true":
        raise OsbError(
            422,
            "this service is created, updated and deleted asynchronously:"
            " the request needs accepts_incomplete=true",
            error="AsyncRequired",
        )


class BuiltinBroker:
    """The built-in brokers' OSB endpoints under `prefix`, with their state and workers.

    Starting it resumes the operations that were in progress when the server stopped; `close()`
    waits briefly for running backend calls (the rest resume on the next start)."""

    def __init__(
        self,
        *,
        backends: Sequence[ServiceBackend],
        state_path: Path,
        username: str,
        password: str,
        prefix: str = "/brokers/builtin",
        settings: BrokerSettings | None = None,
    ) -> None:
        if not username or not password:
            raise ValueError("built-in broker: a username and a password are required")
        _check_catalog(backends)
        self._username = username.encode()
        self._password = password.encode()
        self._catalog = catalog(backends)
        self._scratch = state_path / "scratch"  # dumps on their way in or out
        shutil.rmtree(self._scratch, ignore_errors=True)
        self._scratch.mkdir(parents=True, mode=0o700)
        self._ops = Operations(
            backends=backends, state=StateFile(state_path), settings=settings or BrokerSettings()
        )
        self.router = APIRouter(prefix=prefix, route_class=_guarded_route(self._guard))
        self._routes()

    @property
    def operations(self) -> Operations:
        """The broker's work without HTTP, for the platform itself (bringing a restored
        platform's services back before anything else runs)."""
        return self._ops

    def close(self) -> None:
        self._ops.close()

    def __enter__(self) -> BuiltinBroker:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- every request --------------------------------------------------------------------

    def _guard(self, request: Request) -> Response | None:
        if not self._authorized(request.headers.get("authorization", "")):
            return JSONResponse(
                {"description": "the broker's username and password are required"},
                status_code=401,
                headers={"WWW-Authenticate": REALM},
            )
        version = request.headers.get("x-broker-api-version", "")
        match = _VERSION.fullmatch(version.strip())
        if not match or int(match[1]) != 2 or int(match[2]) < MIN_API_MINOR:
            shown = repr(version) if version else "none"
            return JSONResponse(
                {
                    "description": f"X-Broker-API-Version must be 2.{MIN_API_MINOR} or a later"
                    f" 2.x version (got {shown})"
                },
                status_code=412,
            )
        return None

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        username, colon, password = decoded.partition(b":")
        right_user = hmac.compare_digest(username, self._username)
        right_password = hmac.compare_digest(password, self._password)
        return bool(colon) and right_user and right_password

    # -- the endpoints --------------------------------------------------------------------

    def _routes(self) -> None:
        router, ops = self.router, self._ops
        instance_path = "/v2/service_instances/{instance_id}"
        binding_path = instance_path + "/service_bindings/{binding_id}"

        @router.get("/v2/catalog")
        def get_catalog() -> JSONResponse:
            return JSONResponse(self._catalog)

        @router.put(instance_path)
        def provision(
            instance_id: str, accepts_incomplete: str | None = None, body: Any = Body(None)
        ) -> JSONResponse:
            _async(accepts_incomplete)
            request = _body(body)
            return _reply(
                ops.provision(
                    _id(instance_id, "instance_id"),
                    service_id=_text(request, "service_id"),
                    plan_id=_text(request, "plan_id"),
                    parameters=_mapping(request, "parameters"),
                    context=_mapping(request, "context"),
                )
            )

        @router.patch(instance_path)
        def update(
            instance_id: str, accepts_incomplete: str | None = None, body: Any = Body(None)
        ) -> JSONResponse:
            _async(accepts_incomplete)
            request = _body(body)
            return _reply(
                ops.update(
                    _id(instance_id, "instance_id"),
                    service_id=_text(request, "service_id"),
                    plan_id=_text(request, "plan_id") if "plan_id" in request else None,
                    parameters=_mapping(request, "parameters") if "parameters" in request else None,
                )
            )

        @router.delete(instance_path)
        def deprovision(
            instance_id: str,
            service_id: str | None = None,
            plan_id: str | None = None,
            accepts_incomplete: str | None = None,
        ) -> JSONResponse:
            _query(service_id, "service_id")
            _query(plan_id, "plan_id")
            _async(accepts_incomplete)
            return _reply(ops.deprovision(_id(instance_id, "instance_id")))

        @router.get(instance_path)
        def fetch(instance_id: str) -> JSONResponse:
            return _reply(ops.fetch(instance_id))

        @router.get(instance_path + "/last_operation")
        def last_operation(instance_id: str, operation: str | None = None) -> JSONResponse:
            return _reply(ops.last_operation(instance_id, operation_id=operation))

        @router.put(binding_path)
        def bind(instance_id: str, binding_id: str, body: Any = Body(None)) -> JSONResponse:
            request = _body(body)
            return _reply(
                ops.bind(
                    _id(instance_id, "instance_id"),
                    _id(binding_id, "binding_id"),
                    service_id=_text(request, "service_id"),
                    plan_id=_text(request, "plan_id"),
                    parameters=_mapping(request, "parameters"),
                    bind_resource=_mapping(request, "bind_resource"),
                )
            )

        @router.get(binding_path)
        def fetch_binding(instance_id: str, binding_id: str) -> JSONResponse:
            return _reply(ops.fetch_binding(instance_id, binding_id))

        @router.delete(binding_path)
        def unbind(
            instance_id: str,
            binding_id: str,
            service_id: str | None = None,
            plan_id: str | None = None,
        ) -> JSONResponse:
            _query(service_id, "service_id")
            _query(plan_id, "plan_id")
            return _reply(ops.unbind(instance_id, binding_id))

        @router.post(instance_path + "/backups")
        def backup(instance_id: str) -> Response:
            workdir = Path(tempfile.mkdtemp(dir=self._scratch, prefix="backup-"))
            cleanup = functools.partial(shutil.rmtree, workdir, ignore_errors=True)
            target = workdir / "dump"
            try:
                backup_format = ops.backup(instance_id, target)
                if not target.is_file():
                    raise OsbError(502, f"the backup of {instance_id} wrote no dump")
            except BaseException:
                cleanup()
                raise
            return FileResponse(
                target,
                media_type="application/octet-stream",
                headers={FORMAT_HEADER: backup_format},
                filename=f"{instance_id}.{backup_format}",
                background=BackgroundTask(cleanup),
            )

        @router.put(instance_path + "/restore")
        async def restore(instance_id: str, request: Request) -> JSONResponse:
            backup_format = request.headers.get(FORMAT_HEADER, "").strip()
            if not backup_format:
                raise OsbError(400, f"the {FORMAT_HEADER} header must name the dump's format")
            await run_in_threadpool(ops.check_restore, instance_id, backup_format=backup_format)
            workdir = Path(tempfile.mkdtemp(dir=self._scratch, prefix="restore-"))
            try:
                source = workdir / "dump"
                size = 0
                with source.open("wb") as out:
                    async for chunk in request.stream():
                        size += len(chunk)
                        await run_in_threadpool(out.write, chunk)
                if not size:
                    raise OsbError(400, "the request body must be the dump to restore")
                await run_in_threadpool(
                    functools.partial(ops.restore, instance_id, source, backup_format=backup_format)
                )
            finally:
                await run_in_threadpool(shutil.rmtree, workdir, ignore_errors=True)
            return JSONResponse({})
