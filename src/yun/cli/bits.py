"""Packing an app folder for upload: `.cfignore`, content digests, and a tar of new files only.

Cloud Foundry's rules: `.cfignore` uses .gitignore-style patterns; VCS folders, `.cfignore` and
`manifest.yml` are never uploaded.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ALWAYS_IGNORED = (
    ".git",
    ".hg",
    ".svn",
    "_darcs",
    ".DS_Store",
    ".cfignore",
    "manifest.yml",
    "__pycache__",
    ".yun",
)
CHUNK = 256 * 1024


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    size: int
    mode: int
    source: Path

    def resource(self) -> dict[str, object]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "mode": self.mode}


def _matches(rel: str, is_dir: bool, pattern: str, dir_only: bool, anchored: bool) -> bool:
    if dir_only and not is_dir:
        return False
    if anchored or "/" in pattern:
        return fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(rel, pattern + "/**")
    name = rel.rsplit("/", 1)[-1]
    return fnmatch.fnmatchcase(name, pattern)


class Ignorer:
    def __init__(self, root: Path) -> None:
        self._rules = []
        if (root / ".cfignore").is_file():
            for raw in (root / ".cfignore").read_text(errors="replace").splitlines():
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                negated = line.startswith("!")
                line = line.removeprefix("!")
                dir_only = line.endswith("/")
                anchored = line.startswith("/")
                self._rules.append((line.strip("/"), negated, dir_only, anchored))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        if rel.rsplit("/", 1)[-1] in ALWAYS_IGNORED:
            return True
        result = False
        for pattern, negated, dir_only, anchored in self._rules:
            if _matches(rel, is_dir, pattern, dir_only, anchored):
                result = not negated
        return result


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def scan(root: Path) -> list[FileEntry]:
    """Every file to upload, sorted by path."""
    ignorer = Ignorer(root)
    entries: list[FileEntry] = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        rel_dir = base.relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not ignorer.ignored(prefix + d, True) and not (base / d).is_symlink()
        )
        for name in sorted(filenames):
            rel = prefix + name
            path = base / name
            if ignorer.ignored(rel, False) or not path.is_file():
                continue
            stat = path.stat()
            entries.append(
                FileEntry(
                    path=rel,
                    sha256=_digest(path),
                    size=stat.st_size,
                    mode=stat.st_mode & 0o777,
                    source=path,
                )
            )
    return sorted(entries, key=lambda e: e.path)


def tar_chunks(entries: list[FileEntry], on_progress: Callable[[int], None]) -> Iterator[bytes]:
    """A gzipped tar of `entries` as a stream of chunks; reports source bytes consumed."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.sha256)
            info.size = entry.size
            info.mode = 0o644
            with entry.source.open("rb") as handle:
                tar.addfile(info, handle)
            on_progress(entry.size)
            if buffer.tell() >= CHUNK:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()
