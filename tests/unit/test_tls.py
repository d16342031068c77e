"""The platform CA, the certificates it issues and renews, and the checks of uploaded ones."""

from __future__ import annotations

import datetime
import stat
from pathlib import Path

import pytest
from cryptography import x509

from yun.controllers.certificates import RouterCertificates
from yun.store.session import Store
from yun.tls import CA_KEY_FILE, CertificateError, check_bundle, due, ensure_ca, issue

NOW = datetime.datetime(2026, 12, 6, tzinfo=datetime.UTC)


def split(bundle: str) -> tuple[str, str]:
    """(certificates, key) of a bundle made by `issue`."""
    certs, _, key = bundle.partition("-----BEGIN PRIVATE KEY-----")
    return certs, "-----BEGIN PRIVATE KEY-----" + key


def test_the_ca_is_made_once_and_its_key_is_private(tmp_path: Path) -> None:
    first = ensure_ca(tmp_path / "tls")
    again = ensure_ca(tmp_path / "tls")
    assert first.pem == again.pem
    assert stat.S_IMODE((tmp_path / "tls" / CA_KEY_FILE).stat().st_mode) == 0o600
    assert first.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_issued_certificates_name_their_hosts_and_are_renewed_with_a_third_left(
    tmp_path: Path,
) -> None:
    ca = ensure_ca(tmp_path)
    made = issue(ca, ("*.apps.localhost", "apps.localhost"), now=NOW)
    assert made.names == ("*.apps.localhost", "apps.localhost")
    assert made.not_after == NOW + datetime.timedelta(days=90)
    assert not due(made, now=NOW + datetime.timedelta(days=59))
    assert due(made, now=NOW + datetime.timedelta(days=61))
    certs, key = split(made.bundle)
    checked = check_bundle(certs, key)  # what an upload of it would give
    assert checked.names == made.names


def test_uploads_are_checked_naming_what_is_wrong(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path / "a")
    certs, key = split(issue(ca, ("www.example.test",)).bundle)
    _, other_key = split(issue(ca, ("www.example.test",)).bundle)
    expired_certs, expired_key = split(
        issue(ca, ("old.example.test",), now=NOW - datetime.timedelta(days=400)).bundle
    )
    cases = [
        ((certs, other_key), "--key: the key does not belong to the certificate"),
        (("not pem", key), "--cert: not a PEM certificate"),
        ((certs, "not pem"), "--key: not an unencrypted PEM private key"),
        ((expired_certs, expired_key), "--cert: the certificate expired on"),
    ]
    for (cert_pem, key_pem), message in cases:
        with pytest.raises(CertificateError, match=message):
            check_bundle(cert_pem, key_pem)
    with pytest.raises(CertificateError, match="--chain: not a PEM certificate"):
        check_bundle(certs, key, "garbage")


def test_the_routers_own_certificate_is_kept_and_issued_again_when_due(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'yun.db'}")
    store.migrate()
    provider = RouterCertificates(store=store, tls_dir=tmp_path / "tls", domain="apps.localhost")
    (first,) = provider.current()
    assert first.names == ("*.apps.localhost", "apps.localhost")
    restarted = RouterCertificates(store=store, tls_dir=tmp_path / "tls", domain="apps.localhost")
    assert restarted.current()[0].bundle == first.bundle  # kept across restarts
    moved = RouterCertificates(store=store, tls_dir=tmp_path / "tls", domain="example.test")
    assert moved.current()[0].names == ("*.example.test", "example.test")  # YUN_DOMAIN changed
    store.close()
