"""The API against its own OpenAPI document, with schemathesis: every operation called with
generated input (bounded: 15 examples each), as the admin, on a real store; no answer is a
server error, and every answer matches what the document says of it (status codes, error
bodies, Allow on 405, which calls need a token). The operations that end the caller's session
are left out (their own tests cover them), and so are the checks listed in EXCLUDED, with
why."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import Case, checks
from tests.helpers import free_port

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


def test_the_document_links_what_creates_to_what_uses_it() -> None:
    document = APP.openapi()
    push = document["paths"]["/v3/apps/push"]["post"]["responses"]["200"]["links"]
    show = next(link for link in push.values() if link["operationId"].startswith("show_app"))
    assert show["parameters"] == {"guid": "$response.body#/guid"}
    creators = [
        (path, method)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if any("links" in answer for answer in operation.get("responses", {}).values())
    ]
    assert len(creators) >= 12, creators


def test_stateful_sequences_follow_the_links_without_a_failure(tmp_path: Path) -> None:
    """Schemathesis' stateful phase (its own runner, `st run --phases stateful`) against the
    app served on a free port: sequences that create something and then use it through the
    links; bounded (300 examples, a fixed seed), every check but those in EXCLUDED."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(APP, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        excluded = ",".join(check.__name__ for check in EXCLUDED + QUERY_ONLY)
        run = subprocess.run(
            [str(Path(sys.executable).parent / "st"), "run",
             f"http://127.0.0.1:{port}/openapi.json", "--phases", "stateful",
             "-H", f"Authorization: Bearer {TOKEN}", "-n", "300", "--seed", "1",
             "--exclude-checks", excluded, "--no-color"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
    finally:
        server.should_exit = True
        thread.join(10)
    summary = re.search(
        r"Scenarios:\s+(\d+).*?API Links:\s+(\d+) covered / (\d+)", run.stdout, re.S
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert summary is not None, run.stdout[-3000:]
    print(f"\nschemathesis stateful: {summary.group(1)} scenarios, links {summary.group(2)}"
          f" covered of {summary.group(3)}")  # fmt: skip
    assert int(summary.group(3)) >= 52  # the document's own links, and those inferred
