"""What an ACME order hands its caller, without the ACME library: the challenges the router
must answer, and the error of an order that failed. The server imports these on every start;
`yun.acme.ordering` (certbot's `acme`, `requests`, `josepy`) only when it orders."""

from __future__ import annotations

from dataclasses import dataclass


class AcmeError(Exception):
    """An order that did not end in a certificate; the message says why, for `yun certificates`."""


@dataclass(frozen=True)
class Challenge:
    """What the router must answer: `GET http://NAME/.well-known/acme-challenge/TOKEN` gets
    `key_authorization`."""

    name: str
    token: str
    key_authorization: str
