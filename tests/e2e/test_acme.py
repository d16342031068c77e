"""Certificates from ACME as a user gets them: `yun set-certificate NAME --acme` against Pebble
(Let's Encrypt's test CA, on loopback), which validates the HTTP-01 challenge by asking Yun's
router as Let's Encrypt asks port 80; the certificate served (checked by curl against Pebble's
root), shown in `yun certificates`, and renewed before it expires (Pebble issues 45-second
certificates here) while HTTPS requests keep succeeding. A CA that is not there fails the order
in one line and the retry time is shown; wrong input is refused naming the option."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from tests.e2e.conftest import Platform, launch
from tests.helpers import free_port
from tests.pebble import Pebble, running_pebble

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl is needed"),
]

VALIDITY = 45  # seconds: renewed with a third left, so about 30 s after each order
APP = """\
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"shop over {self.headers['X-Forwarded-Proto']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, Pebble, Path]]:
    base = tmp_path_factory.mktemp("acme")
    router_port = free_port()
    with running_pebble(base / "pebble", http_port=router_port, validity=VALIDITY) as pebble:
        env = {
            "YUN_ROUTER_PORT": str(router_port),
            "YUN_ACME_DIRECTORY": pebble.directory,
            "YUN_ACME_CA_FILE": str(pebble.ca_file),
        }
        with launch(base, extra_env=env) as platform:
            platform.router_port = router_port
            root = base / "pebble-root.pem"
            root.write_text(pebble.issuing_root())
            yield platform, pebble, root


def _get(platform: Platform, host: str, root: Path) -> tuple[int, str]:
    """One HTTPS request on a new connection: (certificate serial, response body)."""
    context = ssl.create_default_context(cafile=str(root))
    with (
        socket.create_connection(("127.0.0.1", platform.https_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split(b" ")[1] == b"200", head
    return x509.load_der_x509_certificate(der).serial_number, body.decode()


def test_an_acme_certificate_is_ordered_served_and_renewed_without_a_failed_request(
    acme: tuple[Platform, Pebble, Path], tmp_path: Path
) -> None:
    platform, pebble, root = acme
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    (folder / "Procfile").write_text("web: python app.py\n")
    (folder / "manifest.yml").write_text("applications:\n- name: shop\n  memory: 128M\n")
    platform.cli("push", "-p", str(folder))
    platform.cli("create-shared-domain", "acme.test")
    platform.cli("map-route", "shop", "acme.test", "--hostname", "www")

    ordered = platform.cli("set-certificate", "www.acme.test", "--acme", "--email", "ops@acme.test")
    assert f"Ordering a certificate for www.acme.test from {pebble.directory}" in ordered.stdout
    assert "Issued: serving www.acme.test" in ordered.stdout

    listing = platform.cli("certificates").stdout
    row = next(line for line in listing.splitlines() if line.startswith("www.acme.test"))
    assert "acme" in row and "issued, renews" in row

    served = subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "10",
            "--cacert",
            str(root),
            "--resolve",
            f"www.acme.test:{platform.https_port}:127.0.0.1",
            f"https://www.acme.test:{platform.https_port}/",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert served.returncode == 0, served.stderr
    assert served.stdout == "shop over https"

    # Renewal: the 45-second certificate is ordered again with a third of its life left; the
    # router swaps it by a reload while new HTTPS connections keep coming.
    first, _ = _get(platform, "www.acme.test", root)
    seen, failures, requests = {first}, [], 0
    deadline = time.monotonic() + VALIDITY + 30
    while len(seen) < 2 and time.monotonic() < deadline:
        try:
            serial, body = _get(platform, "www.acme.test", root)
            seen.add(serial)
            assert body == "shop over https"
        except (OSError, AssertionError) as exc:
            failures.append(repr(exc))
        requests += 1
        time.sleep(0.02)
    assert len(seen) == 2, f"not renewed within {VALIDITY + 30}s:\n{platform.server_log_tail()}"
    assert failures == [], f"{len(failures)} of {requests} requests failed: {failures[:3]}"


def test_an_unreachable_ca_fails_the_order_in_one_line_and_shows_the_retry(
    acme: tuple[Platform, Pebble, Path],
) -> None:
    platform, _, _ = acme
    nowhere = f"https://127.0.0.1:{free_port()}/dir"
    failed = platform.cli(
        "set-certificate", "down.acme.test", "--acme", "--directory", nowhere, check=False
    )
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1, failed.stderr
    assert "the order for down.acme.test failed" in failed.stderr
    assert nowhere in failed.stderr and "Yun tries again at" in failed.stderr
    assert "Traceback" not in failed.stderr

    listing = platform.cli("certificates").stdout
    row = next(line for line in listing.splitlines() if line.startswith("down.acme.test"))
    assert "failed, retry at" in row
    assert any(
        line.startswith("down.acme.test: ") and nowhere in line for line in listing.splitlines()
    )
    platform.cli("delete-certificate", "down.acme.test")
    assert "down.acme.test" not in platform.cli("certificates").stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["*.acme.test", "--acme"], "wildcard"),
        (["www.acme.test", "--acme", "--directory", "ftp://ca.test/dir"], "--directory"),
        (["www.acme.test", "--acme", "--email", "not-an-address"], "--email"),
        (["www.acme.test", "--acme", "--cert", "x.pem"], "--acme"),
        (["www.acme.test", "--directory", "https://ca.test/dir"], "--directory goes with --acme"),
        (["www.acme.test"], "--cert"),
    ],
)
def test_wrong_acme_input_is_refused_naming_the_option(
    acme: tuple[Platform, Pebble, Path], args: list[str], expected: str
) -> None:
    platform, _, _ = acme
    refused = platform.cli("set-certificate", *args, check=False)
    assert refused.returncode != 0
    assert expected in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
