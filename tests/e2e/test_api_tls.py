"""The API over HTTPS (YUN_TLS_CERT, YUN_TLS_KEY): the CLI logs in and works over it, trusting
the certificate through SSL_CERT_FILE; a CLI that does not trust it is told how to, and gets
in with --skip-ssl-validation; plain HTTP to the port gets no answer; the built-in broker, which
the controllers now reach on a loopback listener of its own, still provisions a service."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from tests.e2e.conftest import YUN, launch

pytestmark = pytest.mark.e2e


def _certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "api.crt", folder / "api.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "30",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_the_api_speaks_https_when_given_a_certificate(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    base = tmp_path_factory.mktemp("api-tls")
    cert, key = _certificate(base)
    extra = {"YUN_TLS_CERT": str(cert), "YUN_TLS_KEY": str(key), "SSL_CERT_FILE": str(cert)}
    with launch(base, extra) as plat:
        url = plat.api_url
        assert url.startswith("https://")
        listed = plat.cli("apps")  # logged in over HTTPS by launch()
        assert listed.returncode == 0
        info = httpx.get(f"{url}/v3/info", verify=plat.verify).json()
        assert info["name"] == "yun"
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{plat.api_port}/v3/info", timeout=3)

        stranger = {k: v for k, v in plat.env.items() if k != "SSL_CERT_FILE"}
        stranger["YUN_CONFIG_DIR"] = str(base / "stranger")

        def yun(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [YUN, *args], env=stranger, capture_output=True, text=True, timeout=60
            )

        refused = yun("login", "-a", url, "-u", "admin", "-p", "e2e-secret")
        assert refused.returncode == 1
        assert "certificate this machine does not trust" in refused.stderr
        assert "--skip-ssl-validation" in refused.stderr
        wrong = yun("login", "-a", url.replace("https", "http"), "-u", "admin", "-p", "e2e-secret")
        assert (
            wrong.returncode == 1 and "error:" in wrong.stderr and "Traceback" not in wrong.stderr
        )
        trusting = yun(
            "login", "-a", url, "-u", "admin", "-p", "e2e-secret", "--skip-ssl-validation"
        )
        assert trusting.returncode == 0, trusting.stderr
        assert yun("orgs").returncode == 0  # and it stays so for later commands

        if shutil.which("redis-server") is None:
            return
        made = plat.cli("create-service", "redis", "small", "tls-cache")
        assert made.returncode == 0, made.stderr
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            shown = plat.cli("service", "tls-cache").stdout
            if "succeeded" in shown:
                break
            time.sleep(0.5)
        assert "create succeeded" in shown or "succeeded" in shown, shown
        plat.cli("delete-service", "tls-cache", "-f")


def test_a_certificate_without_its_key_is_refused_by_name(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUN_")}
    env.update({"YUN_HOME": str(tmp_path / "home"), "YUN_TLS_CERT": str(tmp_path / "a.crt")})
    started = subprocess.run([YUN, "server"], env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    assert "YUN_TLS_CERT is set but YUN_TLS_KEY is not" in started.stderr
    assert "Traceback" not in started.stderr
