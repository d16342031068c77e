"""Moving images between registries and local OCI image layouts with skopeo.

`pull` copies `docker://REF` into a layout the agent unpacks; `push` copies a layout's tag to a
registry and returns the pushed reference pinned by digest. Registries on loopback (the
platform's own) are spoken to without TLS verification, since they serve plain HTTP.
Credentials go to skopeo in a private, short-lived auth file, never on its command line, where
any local user could read them in /proc.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from yun.registry.errors import ImageError
from yun.registry.images import manifest_digest
from yun.registry.references import (
    is_loopback,
    layout_tag,
    registry_host,
    repository,
    strip_transport,
)
from yun.registry.tools import run_tool


@dataclass(frozen=True)
class ImageRef:
    """An image pulled into a local layout: where it came from and where it is now."""

    reference: str  # as asked for, without "docker://"
    layout: Path
    tag: str  # the tag inside `layout`
    digest: str  # of the manifest stored in the layout

    @property
    def oci(self) -> str:
        """The `LAYOUT:TAG` form umoci and skopeo's oci: transport take."""
        return f"{self.layout}:{self.tag}"


@contextmanager
def _auth_file(host: str, username: str | None, password: str | None) -> Iterator[Path | None]:
    if username is None:
        yield None
        return
    if password is None:
        raise ValueError("a username needs a password")
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    with tempfile.TemporaryDirectory(prefix="yun-auth-") as folder:
        path = Path(folder) / "auth.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"auths": {host: {"auth": token}}}, handle)
        yield path


def pull(
    ref: str,
    dest_layout: Path,
    *,
    tag: str | None = None,
    username: str | None = None,
    password: str | None = None,
    tls_verify: bool = True,
) -> ImageRef:
    """Copy `ref` from its registry into the OCI layout `dest_layout` (created if missing)."""
    name = strip_transport(ref)
    host = registry_host(name)
    tag = tag or layout_tag(name)
    verify = tls_verify and not is_loopback(host)
    dest_layout.parent.mkdir(parents=True, exist_ok=True)
    with _auth_file(host, username, password) as auth:
        argv = ["skopeo", "copy", "--quiet", f"--src-tls-verify={str(verify).lower()}"]
        if auth is not None:
            argv += ["--src-authfile", str(auth)]
        argv += [f"docker://{name}", f"oci:{dest_layout}:{tag}"]
        run_tool(argv, action=f"cannot pull {name}", secret=password)
    return ImageRef(
        reference=name, layout=dest_layout, tag=tag, digest=manifest_digest(dest_layout, tag)
    )


def push(
    layout: Path,
    tag: str,
    ref: str,
    *,
    username: str | None = None,
    password: str | None = None,
    tls_verify: bool = True,
) -> str:
    """Copy `tag` of `layout` to `ref` ("host:port/repo:tag"); returns "host:port/repo@digest"."""
    name = strip_transport(ref)
    host = registry_host(name)
    verify = tls_verify and not is_loopback(host)
    action = f"cannot push {layout}:{tag} to {name}"
    with tempfile.TemporaryDirectory(prefix="yun-push-") as folder:
        digest_file = Path(folder) / "digest"
        with _auth_file(host, username, password) as auth:
            argv = ["skopeo", "copy", "--quiet", f"--dest-tls-verify={str(verify).lower()}"]
            if auth is not None:
                argv += ["--dest-authfile", str(auth)]
            argv += ["--digestfile", str(digest_file), f"oci:{layout}:{tag}", f"docker://{name}"]
            run_tool(argv, action=action, secret=password)
        digest = digest_file.read_text().strip()
    if not digest:
        raise ImageError(f"{action}: skopeo reported no digest")
    return f"{repository(name)}@{digest}"
