"""TLS material: the platform CA, the router's certificates it issues, uploaded ones, and the
identity certificates of instances (`issue_instance`).

Out of the box the router serves HTTPS for the default domain with a certificate from a CA the
platform makes on its first start (`ca.pem`, ten years; its key never leaves `run_dir/tls`).
Clients trust it with `yun ca > yun-ca.pem; curl --cacert yun-ca.pem …`, as with mkcert or a
company CA. Certificates are ECDSA P-256 (fast handshakes), valid for 90 days like Let's
Encrypt's, and issued again when a third of that is left.

A `Certificate` is what HAProxy gets: one PEM bundle (certificate, chain, key) and the names
it serves (SNI); `check_bundle` reads and checks an uploaded one (`yun set-certificate`).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 90
RENEW_BEFORE = datetime.timedelta(days=30)
INSTANCE_HOURS = 24.0  # an instance's identity, issued again when a third of it is left
CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"


class CertificateError(ValueError):
    """An uploaded certificate or key that HAProxy could not serve; the message says why."""


@dataclass(frozen=True)
class Certificate:
    """A PEM bundle (certificate, chain, private key) and the host names it is for."""

    names: tuple[str, ...]
    bundle: str
    not_after: datetime.datetime


@dataclass(frozen=True)
class PlatformCA:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


def ensure_ca(directory: Path, *, now: datetime.datetime | None = None) -> PlatformCA:
    """The platform CA kept in `directory` (made there on first use)."""
    cert_path, key_path = directory / CA_FILE, directory / CA_KEY_FILE
    if cert_path.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CertificateError(f"{key_path} is not the platform CA's key")
        return PlatformCA(x509.load_pem_x509_certificate(cert_path.read_bytes()), key)
    now = now or datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Yun"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Yun platform CA"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(key_path, private_pem(key))
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return PlatformCA(certificate, key)


def issue(
    ca: PlatformCA, names: tuple[str, ...], *, now: datetime.datetime | None = None
) -> Certificate:
    """A server certificate for `names` (wildcards allowed; addresses as IP names), signed by
    the platform CA."""
    now = now or datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
        .add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    return Certificate(
        names, pem + ca.pem + private_pem(key).decode(), certificate.not_valid_after_utc
    )


def _general_name(name: str) -> x509.GeneralName:
    """An IP address as such (a server reached by address), anything else a DNS name."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


@dataclass(frozen=True)
class InstanceOwner:
    """Whom an instance certificate names (Cloud Foundry's organizational units)."""

    instance_guid: str
    app_guid: str
    space_guid: str
    org_guid: str


def issue_instance(
    ca: PlatformCA,
    owner: InstanceOwner,
    *,
    address: str | None = None,
    hours: float = INSTANCE_HOURS,
    now: datetime.datetime | None = None,
) -> Certificate:
    """An instance's identity, as Cloud Foundry gives one: CN the instance guid, OUs
    `app:GUID`, `space:GUID` and `organization:GUID`, the guid (and `address`) as names,
    for servers and clients alike (mutual TLS between apps), valid for `hours`. The bundle is
    the certificate, the CA's and the key."""
    now = now or datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"organization:{owner.org_guid}"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"space:{owner.space_guid}"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"app:{owner.app_guid}"),
            x509.NameAttribute(NameOID.COMMON_NAME, owner.instance_guid),
        ]
    )
    names: list[x509.GeneralName] = [x509.DNSName(owner.instance_guid)]
    if address:
        with contextlib.suppress(ValueError):
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=hours))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    return Certificate(
        (owner.instance_guid,),
        pem + ca.pem + private_pem(key).decode(),
        certificate.not_valid_after_utc,
    )


def due(certificate: Certificate, *, now: datetime.datetime | None = None) -> bool:
    """Whether a platform-issued certificate should be issued again."""
    now = now or datetime.datetime.now(datetime.UTC)
    return certificate.not_after - now < RENEW_BEFORE


def check_bundle(cert_pem: str, key_pem: str, chain_pem: str = "") -> Certificate:
    """An uploaded certificate, its chain and key as one bundle; CertificateError (naming what
    is wrong) when the PEM does not parse, the key does not match, or it has expired."""
    certs = _certificates(cert_pem, option="--cert")
    chain = _certificates(chain_pem, option="--chain") if chain_pem.strip() else []
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError("--key: not an unencrypted PEM private key") from exc
    leaf = certs[0]
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    leaf_public = leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if public != leaf_public:
        raise CertificateError("--key: the key does not belong to the certificate")
    if leaf.not_valid_after_utc <= datetime.datetime.now(datetime.UTC):
        raise CertificateError(
            f"--cert: the certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}"
        )
    names = _names(leaf)
    if not names:
        raise CertificateError("--cert: the certificate names no host (no DNS subjectAltName)")
    bundle = (
        "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in [*certs, *chain])
        + private_pem(key).decode()
    )
    return Certificate(tuple(names), bundle, leaf.not_valid_after_utc)


def _certificates(pem: str, *, option: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise CertificateError(f"{option}: not a PEM certificate") from exc


def bundle_certificate(bundle: str) -> Certificate | None:
    """The `Certificate` a PEM bundle made here holds; None when it does not parse."""
    try:
        leaf = x509.load_pem_x509_certificates(bundle.encode())[0]
    except (ValueError, IndexError):
        return None
    return Certificate(tuple(_names(leaf)), bundle, leaf.not_valid_after_utc)


def _names(certificate: x509.Certificate) -> list[str]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [str(name).lower() for name in san.value.get_values_for_type(x509.DNSName)]


def private_pem(key: PrivateKeyTypes) -> bytes:
    """A private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` with `data`, readable by this user alone (it holds a private key)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
