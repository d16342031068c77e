"""First-start set-up: the admin user, default org `main`, space `dev`, and the shared domain.

Idempotent: run on every start; it only creates what is missing.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from yun.store.models import Domain, Org, Space, User
from yun.store.passwords import hash_password
from yun.store.session import Store

T = TypeVar("T", Org, Space)


DEFAULT_LABEL = "yun/default"  # on the org and space calls without a target go to


def _default(session: Session, model: type[T], by_name: Select[Any]) -> T | None:
    """The default org or space: the one labelled so (it may have been renamed), else the one
    with the default name (made before labels), which gets the label."""
    for row in session.scalars(select(model)):
        if (row.labels or {}).get(DEFAULT_LABEL) == "true":
            return row
    found: T | None = session.scalar(by_name)
    if found is not None:
        found.labels = {**(found.labels or {}), DEFAULT_LABEL: "true"}
    return found


@dataclass(frozen=True)
class Defaults:
    org_guid: str
    space_guid: str
    domain_guid: str


def bootstrap(
    store: Store, *, home: Path, domain: str, admin_password: str, internal_domain: str = ""
) -> Defaults:
    """The admin, the default org, space and domain; at the first start also the internal
    domain (`apps.internal`, as Cloud Foundry has), which a later start does not bring back
    once deleted."""
    with store.session() as session:
        if session.scalar(select(User).where(User.name == "admin")) is None:
            if (
                internal_domain
                and session.scalar(select(Domain).where(Domain.name == internal_domain)) is None
            ):
                session.add(Domain(name=internal_domain, internal=True))
            password = admin_password
            if not password:
                password = secrets.token_urlsafe(18)
                target = home / "initial-admin-password"
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(password + "\n")
            session.add(User(name="admin", password_hash=hash_password(password), admin=True))
        org = _default(session, Org, select(Org).where(Org.name == "main"))
        if org is None:
            org = Org(name="main", labels={DEFAULT_LABEL: "true"})
            session.add(org)
            session.flush()
        space = _default(
            session, Space, select(Space).where(Space.org_guid == org.guid, Space.name == "dev")
        )
        if space is None:
            space = Space(name="dev", org_guid=org.guid, labels={DEFAULT_LABEL: "true"})
            session.add(space)
        dom = session.scalar(select(Domain).where(Domain.name == domain))
        if dom is None:
            dom = Domain(name=domain)
            session.add(dom)
        session.flush()
        return Defaults(org_guid=org.guid, space_guid=space.guid, domain_guid=dom.guid)
