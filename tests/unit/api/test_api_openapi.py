"""The API against its own OpenAPI document, with schemathesis: every operation called with
generated input (bounded: 15 examples each), as the admin, on a real store; no answer is a
server error, and every answer matches what the document says of it (status codes, error
bodies, Allow on 405, which calls need a token). The operations that end the caller's session
are left out (their own tests cover them), and so are the checks listed in EXCLUDED, with
why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import Case, checks

from yun.api.app import create_app
from yun.api.context import ApiContext
from yun.blobstore import BlobStore
from yun.logstore import LogStore
from yun.settings import Settings
from yun.store.bootstrap import bootstrap
from yun.store.session import Store

SESSION_ENDERS = {("POST", "/v3/auth/logout"), ("DELETE", "/v3/users/{name}/tokens")}
CALLS: list[str] = []
EXCLUDED = [
    # Every call here carries the admin's token, so these two would only see it accepted;
    # tests/unit/api/test_api_policy.py checks each route with no token and the wrong one.
    checks.ignored_auth,
    checks.missing_required_header,
    # Checks the handlers make that the document does not spell out (a maximum not below
    # the minimum, variable names, digests) refuse some schema-valid input: 422s that name
    # the field, not failures. The rest of the document is held to.
    checks.positive_data_acceptance,
]
QUERY_ONLY = [
    # A query parameter given twice (`?space_guid=a&space_guid=b`) is read as its last value,
    # as by most web frameworks; request bodies are still held to the document.
    checks.negative_data_rejection,
]


def _app(home: Path) -> tuple[FastAPI, str]:
    config = Settings(home=home, admin_password="pw")
    store = Store(config.db_url)
    store.migrate()
    defaults = bootstrap(store, home=home, domain="apps.localhost", admin_password="pw")
    context = ApiContext(
        settings=config,
        store=store,
        blobs=BlobStore(home / "blobs"),
        logs=LogStore(home / "logs"),
        defaults=defaults,
        wake=lambda key: None,
    )
    app = create_app(context)
    with TestClient(app) as client:
        token = client.post("/v3/auth/token", json={"username": "admin", "password": "pw"})
    return app, token.json()["access_token"]


APP, TOKEN = _app(Path(__import__("tempfile").mkdtemp(prefix="yun-openapi-")))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).exclude(
    func=lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in SESSION_ENDERS
)


@pytest.fixture(scope="module", autouse=True)
def count() -> Iterator[None]:
    yield
    print(f"\nschemathesis: {len(CALLS)} calls over {len(set(CALLS))} operations")


@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: Case) -> None:
    CALLS.append(f"{case.operation.method.upper()} {case.operation.path}")
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKEN}"}
    excluded = EXCLUDED + (QUERY_ONLY if case.operation.method.upper() == "GET" else [])
    case.call_and_validate(excluded_checks=excluded)
