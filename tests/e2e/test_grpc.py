"""A gRPC app pushed as users write one: `requirements.txt` with grpcio, a Procfile, and the
manifest's route with Cloud Foundry's `protocol: http2`; a gRPC client reaches it over HTTPS
(trusting `yun ca`) and over HTTP/2 in clear, and `yun routes` shows the route's protocol."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from tests.e2e.conftest import Platform

pytestmark = pytest.mark.e2e

HOST = "greeter.apps.localhost"
SERVER = """\
import os
from concurrent import futures

import grpc


def say(request, context):
    return b"hello " + request


server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
handler = grpc.method_handlers_generic_handler(
    "demo.Greeter", {"Say": grpc.unary_unary_rpc_method_handler(say)}
)
server.add_generic_rpc_handlers((handler,))
server.add_insecure_port(f"0.0.0.0:{os.environ['PORT']}")
server.start()
print("greeter serving", flush=True)
server.wait_for_termination()
"""
MANIFEST = f"""\
applications:
- name: greeter
  memory: 256M
  routes:
  - route: {HOST}
    protocol: http2
"""


@pytest.fixture
def greeter(platform: Platform, tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "greeter"
    folder.mkdir()
    (folder / "server.py").write_text(SERVER)
    (folder / "requirements.txt").write_text("grpcio\n")
    (folder / "Procfile").write_text("web: python server.py\n")
    (folder / "manifest.yml").write_text(MANIFEST)
    platform.cli("push", "-p", str(folder))
    yield "greeter"
    platform.cli("delete", "greeter", "-f", check=False)


def test_a_grpc_app_with_protocol_http2_answers_over_https_and_h2c(
    platform: Platform, greeter: str, tmp_path: Path
) -> None:
    listed = platform.cli("routes").stdout
    row = next(line for line in listed.splitlines() if line.startswith(HOST))
    assert "protocol=http2" in row

    ca = platform.cli("ca").stdout.encode()
    options = [("grpc.ssl_target_name_override", HOST), ("grpc.default_authority", HOST)]
    credentials = grpc.ssl_channel_credentials(root_certificates=ca)
    with grpc.secure_channel(f"127.0.0.1:{platform.https_port}", credentials, options) as tls:
        assert tls.unary_unary("/demo.Greeter/Say")(b"tls", timeout=10) == b"hello tls"
    clear = [("grpc.default_authority", HOST)]
    with grpc.insecure_channel(f"127.0.0.1:{platform.router_port}", clear) as h2c:
        assert h2c.unary_unary("/demo.Greeter/Say")(b"h2c", timeout=10) == b"hello h2c"
