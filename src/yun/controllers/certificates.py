"""What the router serves over HTTPS: the platform's certificate for the default domain, then
every certificate users uploaded or had ordered by ACME (`yun set-certificate`), each for the
names it carries.

The platform's certificate (`*.DOMAIN` and `DOMAIN`) comes from the platform CA in
`$YUN_HOME/tls` and is kept there; it is issued again when a third of its 90 days is left, on
the route controller's next pass (it passes every few seconds), and HAProxy takes the new one
by a reload that drops no connection.
"""

from __future__ import annotations

import datetime
import logging
import threading
from pathlib import Path

from sqlalchemy import select

from yun.store.models import Certificate as StoredCertificate
from yun.store.session import Store
from yun.tls import (
    Certificate,
    PlatformCA,
    bundle_certificate,
    due,
    ensure_ca,
    issue,
    write_private,
)

DEFAULT_FILE = "default.pem"
log = logging.getLogger(__name__)


class RouterCertificates:
    def __init__(self, *, store: Store, tls_dir: Path, domain: str) -> None:
        self.store = store
        self.tls_dir = tls_dir
        self.domain = domain
        self._lock = threading.Lock()
        self._ca: PlatformCA | None = None
        self._default: Certificate | None = None

    def current(self) -> list[Certificate]:
        """The platform's certificate first (the one for clients that send no name), then the
        uploaded ones, newest first where names overlap."""
        certificates = [self._platform()]
        with self.store.session() as session:
            rows = session.scalars(
                select(StoredCertificate).order_by(StoredCertificate.updated_at.desc())
            )
            for row in rows:
                if not row.bundle:  # ordered by ACME, not issued yet (sealed: filtered here)
                    continue
                certificates.append(
                    Certificate(
                        names=tuple(row.names),
                        bundle=row.bundle,
                        not_after=datetime.datetime.fromtimestamp(row.not_after, datetime.UTC),
                    )
                )
        return certificates

    def _platform(self) -> Certificate:
        with self._lock:
            if self._default is None:
                self._default = self._read_default()
            if self._default is None or due(self._default):
                ca = self._ca or ensure_ca(self.tls_dir)
                self._ca = ca
                self._default = issue(ca, (f"*.{self.domain}", self.domain))
                write_private(self.tls_dir / DEFAULT_FILE, self._default.bundle.encode())
                log.info("issued the router's certificate for *.%s", self.domain)
            return self._default

    def _read_default(self) -> Certificate | None:
        path = self.tls_dir / DEFAULT_FILE
        try:
            bundle = path.read_text()
        except OSError:
            return None
        found = bundle_certificate(bundle)
        if found is None or self.domain not in found.names:
            return None  # unreadable, or for a domain YUN_DOMAIN no longer is
        return found
