"""Instance identity: each instance's certificate and key from the platform CA, as Cloud
Foundry gives them (`yun.tls.issue_instance`: the instance guid, its app, space and org), so
apps can use mutual TLS with each other.

The files sit in a folder of the instance's own under the agent's root (`.credentials/GUID`),
which the driver shows the app at `CF_INSTANCE_CERT` and `CF_INSTANCE_KEY` (a container sees it
at /lifecycle/credentials, read-only). They are issued again, in place, when a third of their
time is left; a new file takes the old one's owner and mode, so the app can still read it. The
folder also holds the CA alone (`CA_FILE`), which the runc driver adds to the stack's trust
store.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from pathlib import Path

from cryptography import x509

from yun.tls import INSTANCE_HOURS, InstanceOwner, PlatformCA, issue_instance

CREDENTIALS_DIR = ".credentials"
CERT_FILE = "instance.crt"  # the certificate, then the platform CA's
KEY_FILE = "instance.key"
CA_FILE = "ca.crt"  # the platform CA alone (a container's trust store gets it added)


class Identities:
    def __init__(self, ca: PlatformCA, *, hours: float = INSTANCE_HOURS) -> None:
        self.ca = ca
        self.hours = hours

    def issue(
        self, folder: Path, owner: InstanceOwner, *, address: str | None = None
    ) -> datetime.datetime:
        """Write a new certificate and key into `folder`; when they expire."""
        issued = issue_instance(self.ca, owner, address=address, hours=self.hours)
        bundle = issued.bundle
        key_at = bundle.index("-----BEGIN PRIVATE KEY-----")
        folder.mkdir(mode=0o755, parents=True, exist_ok=True)
        replace_file(folder / CERT_FILE, bundle[:key_at].encode(), mode=0o644)
        replace_file(folder / KEY_FILE, bundle[key_at:].encode(), mode=0o600)
        replace_file(folder / CA_FILE, self.ca.pem.encode(), mode=0o644)
        return issued.not_after

    def due(self, not_after: datetime.datetime, *, now: datetime.datetime | None = None) -> bool:
        now = now or datetime.datetime.now(datetime.UTC)
        return not_after - now < datetime.timedelta(hours=self.hours / 3)


def expiry(folder: Path) -> datetime.datetime | None:
    """When the certificate in `folder` expires; None when there is none to read."""
    try:
        return x509.load_pem_x509_certificate((folder / CERT_FILE).read_bytes()).not_valid_after_utc
    except (OSError, ValueError):
        return None


def owner_of(folder: Path, uid: int, gid: int) -> None:
    """Give `folder` and its files to the app's user (a container's)."""
    for path in (folder, *folder.iterdir()):
        os.chown(path, uid, gid)


def replace_file(path: Path, data: bytes, *, mode: int) -> None:
    """Write `path` anew through a temporary file and a rename (a reader never sees half of
    it), with the owner and mode the old file had."""
    uid = gid = -1
    with contextlib.suppress(FileNotFoundError):
        old = path.stat()
        uid, gid, mode = old.st_uid, old.st_gid, old.st_mode & 0o777
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    if uid != -1:
        os.chown(temporary, uid, gid)
    os.chmod(temporary, mode)
    os.replace(temporary, path)
