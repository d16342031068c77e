"""gRPC through the router: a real gRPC server (grpcio) behind a route with `protocol: http2`
(the router speaks h2c to it) answers a real gRPC client over HTTPS (h2 by ALPN) and over
HTTP/2 in clear; statuses and streamed replies (trailers) come through; the same app behind an
http1 route does not work, which is why the option exists."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from tests.integration.router.conftest import free_port

from yun.router import HAProxy, Policy, Route, RouterConfig, Server
from yun.tls import ensure_ca, issue

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is needed"),
]

HOST = "greeter.apps.localhost"
SAY = "/yun.test.Greeter/Say"
COUNT = "/yun.test.Greeter/Count"


def _say(request: bytes, context: grpc.ServicerContext) -> bytes:
    if request == b"nobody":
        context.abort(grpc.StatusCode.NOT_FOUND, "no such person")
    return b"hello " + request


def _count(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    for i in range(int(request)):
        yield str(i).encode()


@pytest.fixture
def greeter() -> Iterator[int]:
    """A gRPC server on a free loopback port (bytes in, bytes out: no generated code)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handlers = {
        "Say": grpc.unary_unary_rpc_method_handler(_say),
        "Count": grpc.unary_stream_rpc_method_handler(_count),
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("yun.test.Greeter", handlers),)
    )
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    yield port
    server.stop(grace=None)


def _route(port: int, protocol: str) -> Route:
    return Route(
        HOST, "", "greeter", "greeter", [Server("g0", "127.0.0.1", port)], Policy(protocol=protocol)
    )


def _calls(channel: grpc.Channel) -> tuple[Any, Any]:
    say = channel.unary_unary(SAY)
    count = channel.unary_stream(COUNT)
    return say, count


def test_grpc_over_https_and_h2c_reaches_an_http2_route(
    https: tuple[HAProxy, RouterConfig], greeter: int, tmp_path: Path
) -> None:
    proxy, config = https
    ca = ensure_ca(tmp_path / "ca")
    proxy.apply([_route(greeter, "http2")], certificates=[issue(ca, ("*.apps.localhost",))])
    options = [("grpc.ssl_target_name_override", HOST), ("grpc.default_authority", HOST)]
    credentials = grpc.ssl_channel_credentials(root_certificates=ca.pem.encode())
    with grpc.secure_channel(f"127.0.0.1:{config.https_port}", credentials, options) as tls:
        say, count = _calls(tls)
        assert say(b"tls", timeout=5) == b"hello tls"
        assert list(count(b"3", timeout=5)) == [b"0", b"1", b"2"]
        with pytest.raises(grpc.RpcError) as missing:
            say(b"nobody", timeout=5)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        assert missing.value.details() == "no such person"

    clear = [("grpc.default_authority", HOST)]
    with grpc.insecure_channel(f"127.0.0.1:{config.port}", clear) as h2c:
        say, count = _calls(h2c)
        assert say(b"h2c", timeout=5) == b"hello h2c"
        assert list(count(b"2", timeout=5)) == [b"0", b"1"]


def test_grpc_does_not_work_through_an_http1_route(
    router: HAProxy, router_config: RouterConfig, greeter: int
) -> None:
    router.apply([_route(greeter, "http1")])
    with grpc.insecure_channel(
        f"127.0.0.1:{router_config.port}", [("grpc.default_authority", HOST)]
    ) as h2c:
        say, _ = _calls(h2c)
        with pytest.raises(grpc.RpcError) as failed:
            say(b"anyone", timeout=5)
        assert failed.value.code() != grpc.StatusCode.OK
