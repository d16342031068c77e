"""Certificates the router serves over HTTPS (`yun set-certificate`, `yun certificates`,
`yun delete-certificate`), and the platform CA clients trust for the default domain (`yun ca`).

An uploaded certificate is checked before anything changes: PEM that parses, a key that belongs
to it, not expired, and a name it covers (`www.example.com` itself, or `*.example.com`). The
router picks among certificates by the name a client asks for (SNI); replacing one reloads
HAProxy without dropping a connection.

`{"acme": {...}}` instead of a certificate asks for one to be ordered from an ACME CA: the row
is stored due now and the ACME controller (`yun.controllers.acme`) orders, renews and retries
it, leaving state, last error and next try on the row for `yun certificates`.
"""

from __future__ import annotations

import datetime
import re
import time
import urllib.parse
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError
from yun.api.route_names import domain_name
from yun.store import events
from yun.store.models import Certificate
from yun.tls import CA_FILE, CertificateError, check_bundle

router = APIRouter()
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class AcmeRequest(BaseModel):
    directory: str = Field(
        default="", description="The ACME directory URL; default: the platform's."
    )
    email: str = Field(default="", description="The contact address for the ACME account.")


class CertificateBody(BaseModel):
    cert: str = Field(default="", description="PEM: the certificate (and its chain, if any).")
    key: str = Field(default="", description="PEM: its unencrypted private key.")
    chain: str = ""
    acme: AcmeRequest | None = Field(
        default=None, description="Order the certificate from an ACME CA instead of uploading it."
    )


def _when(epoch: float | None) -> str | None:
    if not epoch:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(timespec="seconds")


def certificate_view(row: Certificate) -> dict[str, Any]:
    issued = bool(row.bundle)
    expires = datetime.datetime.fromtimestamp(row.not_after, datetime.UTC)
    return {
        "name": row.name,
        "names": list(row.names),
        "not_after": expires.isoformat(timespec="seconds") if issued else None,
        "days_left": (expires - datetime.datetime.now(datetime.UTC)).days if issued else None,
        "source": row.source,
        "state": row.state,
        "acme": (
            {
                "directory": row.acme_directory,
                "email": row.acme_email,
                "renews_at": _when(row.renew_at) if issued else None,
                "last_error": row.last_error,
                "attempts": row.attempts,
                "next_attempt_at": _when(row.next_attempt_at),
            }
            if row.source == "acme"
            else None
        ),
    }


def covers(names: list[str], name: str) -> bool:
    """Whether a certificate for `names` serves `name` (a wildcard covers one label)."""
    parent = name.partition(".")[2]
    return name in names or f"*.{parent}" in names


def _find(session: Session, name: str) -> Certificate | None:
    return session.scalar(select(Certificate).where(Certificate.name == name.strip().lower()))


@router.get("/v3/ca")
def platform_ca(ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    path = ctx.settings.tls_dir / CA_FILE
    try:
        return {"pem": path.read_text()}
    except FileNotFoundError:
        raise ApiError(404, "the platform CA is made when the router first serves HTTPS") from None


@router.get("/v3/certificates")
def list_certificates(ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        rows = session.scalars(select(Certificate).order_by(Certificate.name))
        return {"resources": [certificate_view(row) for row in rows]}


@router.get("/v3/certificates/{name}")
def get_certificate(name: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        row = _find(session, name)
        if row is None:
            raise ApiError(404, f"no certificate for {name} (see `yun certificates`)")
        return certificate_view(row)


@router.put("/v3/certificates/{name}")
def set_certificate(
    name: str, body: CertificateBody, ctx: Ctx, user: CurrentUser
) -> dict[str, Any]:
    wildcard = name.strip().startswith("*.")
    target = ("*." if wildcard else "") + domain_name(name.strip().removeprefix("*."))
    if body.acme is not None:
        return _order(target, body.acme, ctx, user.name)
    if not body.cert.strip() or not body.key.strip():
        missing = "--cert" if not body.cert.strip() else "--key"
        raise ApiError(422, f"{missing}: give the certificate and its key (or --acme)")
    try:
        checked = check_bundle(body.cert, body.key, body.chain)
    except CertificateError as exc:
        raise ApiError(422, str(exc)) from exc
    if not covers(list(checked.names), target):
        shown = ", ".join(checked.names)
        raise ApiError(422, f"--cert: the certificate is for {shown}, not {target}")
    with ctx.store.session() as session:
        row = _stored(session, target)
        row.names = list(checked.names)
        row.bundle = checked.bundle
        row.not_after = checked.not_after.timestamp()
        row.source = "upload"
        row.state = "issued"
        row.acme_directory, row.renew_at, row.next_attempt_at = None, None, None
        row.last_error, row.attempts = "", 0
        session.flush()
        events.record(
            session,
            type="audit.certificate.set",
            app=None,
            actor=user.name,
            data={"name": target, "names": list(checked.names)},
        )
        view = certificate_view(row)
    ctx.wake("routes")
    return view


def _stored(session: Session, name: str) -> Certificate:
    row = _find(session, name)
    if row is None:
        row = Certificate(name=name, names=[], bundle="", not_after=0.0)
        session.add(row)
    return row


def _order(name: str, acme: AcmeRequest, ctx: Ctx, actor: str) -> dict[str, Any]:
    """Have the ACME controller order (now) a certificate for `name`; an issued one already
    there is served until the new one arrives."""
    if name.startswith("*."):
        raise ApiError(
            422,
            f"--acme: {name} is a wildcard, which ACME issues only after a DNS-01 challenge;"
            " Yun answers HTTP-01 challenges, so give each host name",
        )
    directory = acme.directory.strip() or ctx.settings.acme_directory
    parsed = urllib.parse.urlsplit(directory)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ApiError(422, f"--directory: {directory!r} is not an http(s) URL")
    email = acme.email.strip()
    if email and not EMAIL.fullmatch(email):
        raise ApiError(422, f"--email: {email!r} is not an email address")
    with ctx.store.session() as session:
        row = _stored(session, name)
        if row.source != "acme":  # an upload is replaced once the ordered certificate arrives
            row.source = "acme"
            if not row.bundle:
                row.names = [name]
        row.acme_directory, row.acme_email = directory, email
        row.state = "ordering"
        row.last_error, row.attempts, row.next_attempt_at = "", 0, None
        row.renew_at = time.time()  # due now, also when a certificate is already there
        session.flush()
        events.record(
            session,
            type="audit.certificate.order",
            app=None,
            actor=actor,
            data={"name": name, "directory": directory},
        )
        view = certificate_view(row)
    ctx.wake("acme")
    return view


@router.delete("/v3/certificates/{name}")
def delete_certificate(name: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        row = _find(session, name)
        if row is None:
            raise ApiError(404, f"no certificate for {name} (see `yun certificates`)")
        view = certificate_view(row)
        session.delete(row)
        events.record(
            session, type="audit.certificate.delete", app=None, actor=user.name, data={"name": name}
        )
    ctx.wake("routes")
    return view
