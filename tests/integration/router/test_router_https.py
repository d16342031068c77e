"""HTTPS on the router, checked with curl as a client would: the platform CA's certificate for
the default domain, an uploaded one for a custom domain picked by SNI, HTTP/2 by ALPN, TLS 1.2
as the floor, `X-Forwarded-Proto: https` and `X-Forwarded-Port` for the app, and a certificate
replaced by a reload while requests keep succeeding."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from tests.integration.router.conftest import WebSocketClient

from yun.router import Policy, RouterConfig
from yun.tls import check_bundle, ensure_ca, issue

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("haproxy") is None or shutil.which("curl") is None,
        reason="haproxy and curl are needed",
    ),
]


def curl(
    config: RouterConfig, host: str, *args: str, path: str = "/"
) -> subprocess.CompletedProcess[str]:
    assert config.https_port is not None
    return subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "5",
            "--resolve",
            f"{host}:{config.https_port}:127.0.0.1",
            *args,
            f"https://{host}:{config.https_port}{path}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_sni_picks_the_certificate_and_the_app_learns_it_was_https(
    https, backend, make_route, tmp_path: Path
) -> None:
    proxy, config = https
    ca = ensure_ca(tmp_path / "ca")
    platform_cert = issue(ca, ("*.apps.localhost", "apps.localhost"))
    other_ca = ensure_ca(tmp_path / "other-ca")  # as if from another CA, uploaded
    custom = issue(other_ca, ("www.example.test",))
    cert_pem, key_pem = custom.bundle.split("-----BEGIN PRIVATE KEY-----")
    uploaded = check_bundle(cert_pem, "-----BEGIN PRIVATE KEY-----" + key_pem)
    hello, shop = backend("hello"), backend("shop")
    proxy.apply(
        [
            make_route("hello.apps.localhost", hello.server()),
            make_route("www.example.test", shop.server()),
        ],
        certificates=[platform_cert, uploaded],
    )
    (tmp_path / "ca.pem").write_text(ca.pem)
    (tmp_path / "other.pem").write_text(other_ca.pem)

    mine = curl(config, "hello.apps.localhost", "--cacert", str(tmp_path / "ca.pem"), path="/x")
    assert mine.returncode == 0, mine.stderr
    seen = json.loads(mine.stdout)
    assert seen["name"] == "hello"
    assert seen["headers"]["x-forwarded-proto"] == "https"
    assert seen["headers"]["x-forwarded-port"] == str(config.https_port)

    theirs = curl(config, "www.example.test", "--cacert", str(tmp_path / "other.pem"))
    assert theirs.returncode == 0, theirs.stderr
    assert json.loads(theirs.stdout)["name"] == "shop"
    wrong = curl(config, "www.example.test", "--cacert", str(tmp_path / "ca.pem"))
    assert wrong.returncode == 60  # that name's certificate is not the platform CA's

    h2 = curl(
        config,
        "hello.apps.localhost",
        "--cacert",
        str(tmp_path / "ca.pem"),
        "--http2",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version}",
    )
    assert h2.stdout == "2"
    old = curl(
        config,
        "hello.apps.localhost",
        "--cacert",
        str(tmp_path / "ca.pem"),
        "--tlsv1.1",
        "--tls-max",
        "1.1",
        "-o",
        "/dev/null",
    )
    assert old.returncode != 0  # TLS 1.1 and older are refused
    plain = subprocess.run(
        ["curl", "-sS", "-H", "Host: hello.apps.localhost", f"http://127.0.0.1:{config.port}/"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(plain.stdout)["headers"]["x-forwarded-proto"] == "http"


def test_a_replaced_certificate_fails_no_request(
    https, backend, make_route, tmp_path: Path
) -> None:
    proxy, config = https
    ca = ensure_ca(tmp_path / "ca")
    (tmp_path / "ca.pem").write_text(ca.pem)
    hello = backend("hello")
    routes = [make_route("hello.apps.localhost", hello.server())]
    first = issue(ca, ("*.apps.localhost",))
    proxy.apply(routes, certificates=[first])
    failures: list[str] = []
    done = threading.Event()

    def keep_asking() -> None:
        while not done.is_set():
            result = curl(config, "hello.apps.localhost", "--cacert", str(tmp_path / "ca.pem"))
            if result.returncode != 0:
                failures.append(result.stderr)

    client = threading.Thread(target=keep_asking)
    client.start()
    try:
        for _ in range(3):
            later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1)
            assert proxy.apply(routes, certificates=[issue(ca, ("*.apps.localhost",), now=later)])
    finally:
        done.set()
        client.join()
    assert failures == []
    served = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{config.https_port}",
            "-servername",
            "hello.apps.localhost",
        ],
        input="",
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert "Yun platform CA" in served
    assert len(list(config.run_dir.glob("tls-*.pem"))) == 1  # the replaced ones were pruned


def test_https_redirect_and_hsts_per_route(https, backend, make_route, tmp_path: Path) -> None:
    proxy, config = https
    ca = ensure_ca(tmp_path / "ca")
    (tmp_path / "ca.pem").write_text(ca.pem)
    hello, plain = backend("hello"), backend("plain")
    strict = replace(
        make_route("hello.apps.localhost", hello.server()),
        policy=Policy(https_redirect=True, hsts=True),
    )
    proxy.apply(
        [strict, make_route("plain.apps.localhost", plain.server())],
        certificates=[issue(ca, ("*.apps.localhost",))],
    )

    moved = subprocess.run(
        [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "-H",
            "Host: hello.apps.localhost",
            f"http://127.0.0.1:{config.port}/a/b?c=1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert moved.stdout == f"301 https://hello.apps.localhost:{config.https_port}/a/b?c=1"
    secure = curl(config, "hello.apps.localhost", "--cacert", str(tmp_path / "ca.pem"), "-i")
    assert "strict-transport-security: max-age=31536000" in secure.stdout.lower()
    other = curl(config, "plain.apps.localhost", "--cacert", str(tmp_path / "ca.pem"), "-i")
    assert "strict-transport-security" not in other.stdout.lower()
    served = subprocess.run(
        ["curl", "-sS", "-H", "Host: plain.apps.localhost", f"http://127.0.0.1:{config.port}/"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(served.stdout)["name"] == "plain"  # no redirect where not asked


def test_a_websocket_works_over_https(https, backend, make_route, tmp_path: Path) -> None:
    proxy, config = https
    ca = ensure_ca(tmp_path / "ca")
    (tmp_path / "ca.pem").write_text(ca.pem)
    proxy.apply(
        [make_route("chat.apps.localhost", backend("chat").server())],
        certificates=[issue(ca, ("*.apps.localhost",))],
    )
    client = WebSocketClient(
        config.https_port, "chat.apps.localhost", "/ws", cafile=str(tmp_path / "ca.pem")
    )
    try:
        assert (client.status, client.accepted) == (101, True)
        client.send_text("hello")
        assert client.recv_text() == "chat:hello"
    finally:
        client.close()
