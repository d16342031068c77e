"""One ACME order (RFC 8555) answered with HTTP-01 challenges.

The account key is the caller's to keep (`new_account_key` makes one); the account is found
again by that key on every order, so nothing else about it needs storing. The certificate's
own key is new for every order (ECDSA P-256) and comes back in the bundle, after the full chain.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import requests
from acme import challenges, client, crypto_util, errors, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy import errors as jose_errors
from josepy.jwk import JWK, JWKRSA

from yun.acme.challenge import AcmeError, Challenge
from yun.tls import Certificate, private_pem

USER_AGENT = "yun"
NETWORK_TIMEOUT = 30


def _network(key: JWK, ca_file: Path | None) -> client.ClientNetwork:
    """The library's network, checking the directory's certificate against `ca_file` (a
    private ACME CA) where one is given, else against the system's trusted CAs."""
    net = client.ClientNetwork(key, user_agent=USER_AGENT, timeout=NETWORK_TIMEOUT)
    if ca_file is not None:
        # Handed to requests as its `verify`, which takes a CA bundle's path as well as a bool.
        net.verify_ssl = str(ca_file)  # type: ignore[assignment]
    return net


def new_account_key() -> str:
    """A new ACME account key (RSA 2048, which every ACME CA takes), as PEM."""
    return private_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)).decode()


def order(
    *,
    directory: str,
    email: str,
    account_key_pem: str,
    names: Sequence[str],
    publish: Callable[[list[Challenge]], None],
    withdraw: Callable[[list[Challenge]], None],
    ca_file: Path | None = None,
    timeout: float = 120.0,
) -> Certificate:
    """Order a certificate for `names` from the ACME CA at `directory`: `publish` must make
    the router answer the challenges before it returns, `withdraw` is called once the CA is
    done with them (also when the order fails). Raises AcmeError."""
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)
    account_key = serialization.load_pem_private_key(account_key_pem.encode(), password=None)
    if not isinstance(account_key, rsa.RSAPrivateKey):
        raise AcmeError("the ACME account key is not an RSA key")
    jwk = JWKRSA(key=account_key)
    net = _network(jwk, ca_file)
    try:
        acme = client.ClientV2(client.ClientV2.get_directory(directory, net), net)
        _register(acme, email)
        key = ec.generate_private_key(ec.SECP256R1())
        key_pem = private_pem(key)
        placed = acme.new_order(crypto_util.make_csr(key_pem, list(names)))
        pending = _challenges(placed, jwk)
        shown = [shown for shown, _ in pending]
        try:
            if shown:
                publish(shown)
            for _, challenge in pending:
                acme.answer_challenge(challenge, challenge.response(jwk))
            done = acme.poll_and_finalize(placed, deadline)
        finally:
            if shown:
                withdraw(shown)
    except errors.ValidationError as exc:
        raise AcmeError(_validation_failure(exc)) from exc
    except errors.TimeoutError as exc:
        raise AcmeError(f"the ACME CA did not finish the order within {timeout:.0f}s") from exc
    except requests.RequestException as exc:
        raise AcmeError(
            f"the ACME CA at {directory} did not answer: {_network_reason(exc)}"
        ) from exc
    except (errors.Error, jose_errors.Error) as exc:
        raise AcmeError(f"the ACME CA refused: {_one_line(exc)}") from exc
    chain = x509.load_pem_x509_certificates(done.fullchain_pem.encode())
    bundle = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain)
    return Certificate(tuple(names), bundle + key_pem.decode(), chain[0].not_valid_after_utc)


def _register(acme: client.ClientV2, email: str) -> None:
    """Make the account, or find the one this key already has."""
    registration = messages.NewRegistration.from_data(
        email=email or None, terms_of_service_agreed=True
    )
    try:
        acme.new_account(registration)
    except errors.ConflictError as exists:
        acme.net.account = messages.RegistrationResource(
            uri=exists.location, body=messages.Registration()
        )


def _challenges(
    placed: messages.OrderResource, jwk: JWK
) -> list[tuple[Challenge, messages.ChallengeBody]]:
    """The HTTP-01 challenge of every authorization not yet valid (a CA may reuse recent ones)."""
    found = []
    for authorization in placed.authorizations:
        body = authorization.body
        if body.status == messages.STATUS_VALID:
            continue
        name = str(body.identifier.value)
        http01 = [c for c in body.challenges if isinstance(c.chall, challenges.HTTP01)]
        if not http01:
            raise AcmeError(f"the ACME CA offers no HTTP-01 challenge for {name}")
        challenge = http01[0]
        shown = Challenge(
            name=name,
            token=challenge.chall.encode("token"),
            key_authorization=challenge.chall.validation(jwk),
        )
        found.append((shown, challenge))
    return found


def _validation_failure(exc: errors.ValidationError) -> str:
    problems = []
    for authorization in exc.failed_authzrs:
        name = authorization.body.identifier.value
        for challenge in authorization.body.challenges:
            if challenge.error is not None:
                detail = challenge.error.detail or challenge.error.typ
                problems.append(f"{name}: {challenge.chall.typ} failed: {detail}")
    return "; ".join(problems) or "the ACME CA refused the challenges"


def _network_reason(exc: requests.RequestException) -> str:
    """What went wrong on the network, without the library's wrapping (`Connection refused`,
    `certificate verify failed: …`)."""
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        found = re.search(r"\[SSL(?:: [A-Z_]+)?\] ([^(]+?)\s*\(_ssl", text)
        return f"TLS: {found.group(1)}" if found else "TLS handshake failed"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    found = re.search(r"\[Errno -?\d+\] ([^\"')]+)", text)
    return found.group(1).strip() if found else _one_line(exc)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
