"""Certificates the router serves over HTTPS (`yun set-certificate`, `yun certificates`,
`yun delete-certificate`), and the platform CA clients trust for the default domain (`yun ca`).

An uploaded certificate is checked before anything changes: PEM that parses, a key that belongs
to it, not expired, and a name it covers (`www.example.com` itself, or `*.example.com`). The
router picks among certificates by the name a client asks for (SNI); replacing one reloads
HAProxy without dropping a connection.
"""

from __future__ import annotations

import datetime
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


class CertificateBody(BaseModel):
    cert: str = Field(min_length=1, description="PEM: the certificate (and its chain, if any).")
    key: str = Field(min_length=1, description="PEM: its unencrypted private key.")
    chain: str = ""


def certificate_view(row: Certificate) -> dict[str, Any]:
    expires = datetime.datetime.fromtimestamp(row.not_after, datetime.UTC)
    return {
        "name": row.name,
        "names": list(row.names),
        "not_after": expires.isoformat(timespec="seconds"),
        "days_left": (expires - datetime.datetime.now(datetime.UTC)).days,
        "source": row.source,
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


@router.put("/v3/certificates/{name}")
def set_certificate(
    name: str, body: CertificateBody, ctx: Ctx, user: CurrentUser
) -> dict[str, Any]:
    wildcard = name.strip().startswith("*.")
    target = ("*." if wildcard else "") + domain_name(name.strip().removeprefix("*."))
    try:
        checked = check_bundle(body.cert, body.key, body.chain)
    except CertificateError as exc:
        raise ApiError(422, str(exc)) from exc
    if not covers(list(checked.names), target):
        shown = ", ".join(checked.names)
        raise ApiError(422, f"--cert: the certificate is for {shown}, not {target}")
    with ctx.store.session() as session:
        row = _find(session, target)
        if row is None:
            row = Certificate(name=target)
            session.add(row)
        row.names = list(checked.names)
        row.bundle = checked.bundle
        row.not_after = checked.not_after.timestamp()
        row.source = "upload"
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
