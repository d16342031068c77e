"""Access logs travel from HAProxy over a UNIX datagram socket to Yun's callback."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from yun.router import AccessLogReceiver, HAProxy, RouterConfig

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)"
    ),
]


@pytest.fixture
def lines(run_dir: Path) -> Iterator[list[tuple[str, str, str]]]:
    received: list[tuple[str, str, str]] = []
    receiver = AccessLogReceiver(run_dir / "access.sock", lambda *line: received.append(line))
    receiver.start()
    yield received
    receiver.stop()


@pytest.fixture
def router_config(run_dir: Path, router_config: RouterConfig) -> RouterConfig:
    return replace(router_config, log_socket=run_dir / "access.sock")


def test_access_lines_name_backend_app_and_instance(
    router: HAProxy, lines, backend, http, make_route, wait_for
):
    servers = [backend("hello").server("idx-0")]
    router.apply(
        [make_route("hello.apps.localhost", *servers, backend="guid 1/x", app="hello world")]
    )

    http("hello.apps.localhost", "/greet?who=me", headers={"X-Request-Id": "req-7"})
    http("nowhere.apps.localhost")

    assert wait_for(lambda: len(lines) >= 2)
    by_status = {text.split('" ', 1)[1].split()[0]: (b, a, text) for b, a, text in lines}
    backend_id, app, text = by_status["200"]
    assert (backend_id, app) == ("guid 1/x", "hello world")
    assert text.startswith("hello.apps.localhost - [")
    assert '"GET /greet?who=me HTTP/1.1" 200' in text
    assert 'x_request_id:"req-7"' in text
    assert 'x_forwarded_for:"127.0.0.1"' in text
    assert 'instance:"idx-0"' in text
    assert "response_time_ms:" in text

    backend_id, app, text = by_status["404"]
    assert (backend_id, app) == ("", "")
    assert text.startswith("nowhere.apps.localhost - [")
