"""Content-addressed files under `$YUN_HOME/blobs`: uploaded app files, droplets, caches.

A blob's name is the SHA-256 of its bytes, so a file uploaded twice is stored once and an
unchanged file is never sent again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise ValueError(f"not a blob digest: {digest!r}")
        return self.root / digest[:2] / digest[2:]

    def exists(self, digest: str) -> bool:
        try:
            return self.path(digest).is_file()
        except ValueError:
            return False

    def delete(self, digest: str) -> None:
        """Remove a blob; a missing one is fine."""
        self.path(digest).unlink(missing_ok=True)

    def delete_many(self, digests: list[str]) -> None:
        for digest in digests:
            self.delete(digest)

    def put_stream(self, stream: IO[bytes]) -> str:
        """Store the stream's bytes; returns their digest."""
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            name = digest.hexdigest()
            target = self.path(name)
            target.parent.mkdir(exist_ok=True)
            if target.exists():
                os.unlink(tmp)
            else:
                os.replace(tmp, target)
            return name
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def put_file(self, path: Path) -> str:
        with path.open("rb") as handle:
            return self.put_stream(handle)

    def copy_to(self, digest: str, target: Path) -> None:
        shutil.copyfile(self.path(digest), target)
