"""Pebble, Let's Encrypt's ACME test server, for the tests: built once per machine, run on loopback.

`pebble` and `pebble-challtestsrv` are built from their Go module at a pinned version into
`/var/cache/yun-test/pebble-VERSION/` (`YUN_TEST_PEBBLE_DIR` points elsewhere) and reused by every
test and CI run. `running_pebble` starts both on free loopback ports: the challenge test server
only as Pebble's DNS server (every name resolves to 127.0.0.1), so Pebble validates HTTP-01
challenges by asking Yun's router on `http_port` — the way Let's Encrypt asks port 80.
"""

from __future__ import annotations

import datetime
import fcntl
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.helpers import free_port

MODULE = "github.com/letsencrypt/pebble/v2"
VERSION = "v2.10.3"
PROGRAMS = ("pebble", "pebble-challtestsrv")


def pebble_dir() -> Path:
    explicit = os.environ.get("YUN_TEST_PEBBLE_DIR")
    return Path(explicit) if explicit else Path(f"/var/cache/yun-test/pebble-{VERSION}")


def pebble_binaries() -> Path:
    """The directory holding `pebble` and `pebble-challtestsrv`, built there first if needed."""
    root = pebble_dir()
    bin_dir = root / "bin"
    if all((bin_dir / name).is_file() for name in PROGRAMS):
        return bin_dir
    go = shutil.which("go")
    if go is None:
        message = f"building Pebble {VERSION} needs the Go toolchain (go), which is not on PATH"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test process may be building it
        if all((bin_dir / name).is_file() for name in PROGRAMS):
            return bin_dir
        staging = root / "bin.new"
        shutil.rmtree(staging, ignore_errors=True)
        env = {**os.environ, "GOBIN": str(staging), "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
        packages = [f"{MODULE}/cmd/{name}@{VERSION}" for name in PROGRAMS]
        built = subprocess.run(
            [go, "install", *packages], env=env, capture_output=True, text=True, timeout=900
        )
        if built.returncode != 0:
            pytest.fail(f"go install {' '.join(packages)} failed:\n{built.stderr[-3000:]}")
        shutil.rmtree(bin_dir, ignore_errors=True)
        staging.rename(bin_dir)
    return bin_dir


@dataclass
class Pebble:
    directory: str  # the ACME directory URL
    ca_file: Path  # what Pebble's own HTTPS listener is signed by: trust it to reach `directory`
    management: str

    def issuing_root(self) -> str:
        """PEM of the root Pebble signs certificates under (new on every Pebble start)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with urllib.request.urlopen(f"{self.management}/roots/0", context=context) as answer:
            return str(answer.read().decode())


def _listener_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate for 127.0.0.1 and localhost signed by it: Pebble's HTTPS."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble listener test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca_file.write_bytes(ca.public_bytes(pem))
    cert_file.write_bytes(leaf.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_file, cert_file, key_file


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args!r} exited:\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{proc.args!r} is not listening on {port}:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def running_pebble(folder: Path, *, http_port: int, validity: int = 7776000) -> Iterator[Pebble]:
    """Pebble and its DNS server on free loopback ports, validating HTTP-01 on `http_port`,
    issuing certificates valid for `validity` seconds; stopped (by pid) on exit."""
    bin_dir = pebble_binaries()
    folder.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = _listener_certificate(folder)
    acme_port, management_port, dns_port = free_port(), free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{acme_port}",
            "managementListenAddress": f"127.0.0.1:{management_port}",
            "certificate": str(cert_file),
            "privateKey": str(key_file),
            "httpPort": http_port,
            "tlsPort": free_port(),  # TLS-ALPN-01: not used by Yun
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "retryAfter": {"authz": 1, "order": 1},
            "keyAlgorithm": "ecdsa",
            "profiles": {"default": {"description": "Yun tests", "validityPeriod": validity}},
        }
    }
    (folder / "pebble.json").write_text(json.dumps(config))
    dns_log, pebble_log = folder / "challtestsrv.log", folder / "pebble.log"
    with dns_log.open("wb") as dns_out, pebble_log.open("wb") as pebble_out:
        dns, pebble = _start(bin_dir, folder, dns_port, dns_out, pebble_out)
    try:
        _wait_listening(pebble, acme_port, pebble_log)
        yield Pebble(
            directory=f"https://127.0.0.1:{acme_port}/dir",
            ca_file=ca_file,
            management=f"https://127.0.0.1:{management_port}",
        )
    finally:
        _stop(pebble)
        _stop(dns)


def _start(
    bin_dir: Path, folder: Path, dns_port: int, dns_out: IO[bytes], pebble_out: IO[bytes]
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    dns = subprocess.Popen(
        [
            str(bin_dir / "pebble-challtestsrv"),
            f"-dnsserver=127.0.0.1:{dns_port}",
            f"-management=127.0.0.1:{free_port()}",
            "-defaultIPv4=127.0.0.1",
            "-defaultIPv6=",
            "-http01=",
            "-https01=",
            "-tlsalpn01=",
            "-doh=",
        ],
        stdout=dns_out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    env = {
        **os.environ,
        "PEBBLE_VA_NOSLEEP": "1",  # validate at once, not after a random pause
        "PEBBLE_WFE_NONCEREJECT": "0",  # no deliberately refused nonces
        "PEBBLE_AUTHZREUSE": "0",  # every order (renewals too) answers its challenge
    }
    pebble = subprocess.Popen(
        [
            str(bin_dir / "pebble"),
            "-config",
            str(folder / "pebble.json"),
            "-dnsserver",
            f"127.0.0.1:{dns_port}",
        ],
        env=env,
        cwd=folder,
        stdout=pebble_out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    return dns, pebble
