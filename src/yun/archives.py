"""Unpacking tar archives without letting one write outside its folder.

Droplets and exported images are made by Yun, but from files that users and buildpacks wrote, so
every extraction treats the archive as hostile: a member named `../x` or `/etc/x`, a symlink
pointing out of the folder (and a later member written through it), a hard link to a file
outside, or a device node is refused with `UnsafeArchive`, naming the member. A symlink itself
may point anywhere (a virtualenv's `bin/python` points at the stack's `/usr/bin/python3`): it is
read where the droplet runs, and nothing is ever extracted through it to outside the folder.

Python's own extraction filters (`filter="tar"`) came in 3.11.4 and 3.12; Debian 12's Python is
3.11.2. So the checks are Yun's and the same on every version: each member is checked just
before it is extracted, against the folder as it stands then (symlinks already extracted
included, by `os.path.realpath`), the rule of CPython's `tar` filter. Where the filter exists it
runs as well. Set-id, sticky and group/other write bits are dropped from modes, as that filter
does.
"""

from __future__ import annotations

import copy
import os
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

DROPPED_MODE_BITS = 0o7000 | 0o022  # setuid, setgid, sticky; group and other write


class UnsafeArchive(tarfile.TarError):
    """A member would land outside the target folder, or is a kind of file not extracted."""


def extract(archive: tarfile.TarFile, into: Path) -> None:
    """Extract every member of `archive` under `into` (created if missing)."""
    into.mkdir(parents=True, exist_ok=True)
    root = os.path.realpath(into)
    members = checked_members(archive.getmembers(), root)
    if hasattr(tarfile, "tar_filter"):
        archive.extractall(root, members=members, filter="tar")
    else:  # Python < 3.11.4: the checks above are all there is
        archive.extractall(root, members=members)  # noqa: S202 (every member checked)


def extract_file(path: Path, into: Path) -> None:
    """Extract the (possibly compressed) tar file at `path` under `into`."""
    with tarfile.open(path, "r:*") as archive:
        extract(archive, into)


def checked_members(members: Iterable[tarfile.TarInfo], root: str) -> Iterator[tarfile.TarInfo]:
    """Each member, checked against `root` as it is on disk when the member's turn comes."""
    for member in members:
        _check(member, root)
        safe = copy.copy(member)
        if member.isfile() or member.isdir():
            safe.mode = member.mode & ~DROPPED_MODE_BITS
        yield safe


def _check(member: tarfile.TarInfo, root: str) -> None:
    name = member.name
    if os.path.isabs(name) or "\x00" in name:
        raise UnsafeArchive(f"archive member {name!r}: absolute path")
    if member.ischr() or member.isblk():
        raise UnsafeArchive(f"archive member {name!r}: device files are not extracted")
    where = os.path.realpath(os.path.join(root, name))
    if not _inside(where, root):
        raise UnsafeArchive(f"archive member {name!r}: outside the target folder")
    if member.islnk():
        target = os.path.realpath(os.path.join(root, member.linkname))
        if os.path.isabs(member.linkname) or not _inside(target, root):
            raise UnsafeArchive(f"archive member {name!r}: hard link to a file outside")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
