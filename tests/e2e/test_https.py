"""HTTPS as a user sets it up: `yun ca` for the default domain, `yun set-certificate` with a
certificate made by openssl for a custom domain, `yun certificates`, checked by curl with
`--cacert`; HTTP/2 negotiated; the app told the request came over HTTPS; wrong input refused in
one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.conftest import Platform

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed"),
]

APP = """\
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"who": os.environ["WHO"], "proto": self.headers["X-Forwarded-Proto"],
                           "port": self.headers["X-Forwarded-Port"]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


@pytest.fixture
def secure_app(platform: Platform, tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "secure"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    (folder / "Procfile").write_text("web: python app.py\n")
    (folder / "manifest.yml").write_text(
        "applications:\n- name: secure\n  memory: 128M\n  env:\n    WHO: secure\n"
    )
    platform.cli("push", "-p", str(folder))
    yield "secure"
    platform.cli("delete", "secure", "-f", check=False)
    platform.cli("delete-shared-domain", "example.test", "-f", check=False)


def curl(platform: Platform, host: str, ca: Path, *args: str) -> subprocess.CompletedProcess[str]:
    port = platform.https_port
    return subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "10",
            "--cacert",
            str(ca),
            "--resolve",
            f"{host}:{port}:127.0.0.1",
            *args,
            f"https://{host}:{port}/",
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "30",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_https_with_the_platform_ca_and_an_uploaded_certificate(
    platform: Platform, secure_app: str, tmp_path: Path
) -> None:
    ca = tmp_path / "yun-ca.pem"
    ca.write_text(platform.cli("ca").stdout)
    assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    answer = curl(platform, "secure.apps.localhost", ca)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == {
        "who": "secure",
        "proto": "https",
        "port": str(platform.https_port),
    }
    h2 = curl(
        platform, "secure.apps.localhost", ca, "--http2", "-o", "/dev/null", "-w", "%{http_version}"
    )
    assert h2.stdout == "2"

    platform.cli(
        "update-route", "secure.apps.localhost", "-o", "https_redirect=true", "-o", "hsts=true"
    )
    expected = f"301 https://secure.apps.localhost:{platform.https_port}/x"
    plain = f"http://127.0.0.1:{platform.router_port}/x"
    deadline = time.monotonic() + 10  # the router takes the new policy within moments
    while True:
        moved = subprocess.run(
            [
                "curl",
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{redirect_url}",
                "-H",
                "Host: secure.apps.localhost",
                plain,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if moved.stdout == expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert moved.stdout == expected
    strict = curl(platform, "secure.apps.localhost", ca, "-i").stdout.lower()
    assert "strict-transport-security: max-age=31536000" in strict

    cert, key = self_signed(tmp_path, "www.example.test")
    platform.cli("create-shared-domain", "example.test")
    platform.cli("map-route", secure_app, "example.test", "-n", "www")
    untrusted = curl(platform, "www.example.test", cert)
    assert untrusted.returncode == 60  # the platform's certificate does not name it yet
    said = platform.cli(
        "set-certificate", "www.example.test", "--cert", str(cert), "--key", str(key)
    ).stdout
    assert said.startswith("Serving www.example.test with the certificate for www.example.test")
    listed = platform.cli("certificates").stdout.splitlines()
    row = next(line.split() for line in listed if line.startswith("www.example.test"))
    assert row[-3:-1] in (["29", "upload"], ["30", "upload"]) and row[-1] == "issued"
    served = curl(platform, "www.example.test", cert)
    assert served.returncode == 0, served.stderr
    assert json.loads(served.stdout)["proto"] == "https"

    other_cert, other_key = self_signed(tmp_path, "other.example.test")
    for args, message in [
        (
            ("set-certificate", "shop.example.test", "--cert", str(cert), "--key", str(key)),
            "--cert: the certificate is for www.example.test, not shop.example.test",
        ),
        (
            ("set-certificate", "www.example.test", "--cert", str(cert), "--key", str(other_key)),
            "--key: the key does not belong to the certificate",
        ),
        (
            (
                "set-certificate",
                "www.example.test",
                "--cert",
                str(tmp_path / "none.pem"),
                "--key",
                str(key),
            ),
            "--cert",
        ),
        (
            ("set-certificate", "www.example.test", "--cert", str(key), "--key", str(key)),
            "--cert: not a PEM certificate",
        ),
        (("delete-certificate", "nothing.example.test"), "no certificate for nothing.example.test"),
    ]:
        result = platform.cli(*args, check=False)
        assert result.returncode in (1, 2), (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert curl(platform, "www.example.test", cert).returncode == 0  # nothing half-applied
    assert other_cert.exists()

    platform.cli("delete-certificate", "www.example.test")
    assert platform.cli("certificates").stdout.startswith("No certificates yet")
