"""Extracting droplets never writes outside the target folder, on every supported Python
(Debian 12's 3.11.2 has no tarfile extraction filters): `..` paths, absolute paths, writes
through symlinks that point out, hard links to outside files and device nodes are refused."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from yun import archives
from yun.builder import droplets


def _archive(path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def _file(name: str, data: bytes = b"x", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info, data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, b""


def _everything_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """(the folder extracted into, its parent, which must stay as it is)"""
    outer = tmp_path / "outer"
    (outer / "into").mkdir(parents=True)
    (outer / "secret").write_text("keep me")
    return outer / "into", outer


HOSTILE = {
    "dot-dot path": [_file("app/../../evil")],
    "absolute path": [_file("/tmp/yun-archive-test-evil")],
    "write through a symlink to outside": [_link("app/out", "../.."), _file("app/out/evil")],
    "write through an absolute symlink": [_link("app/etc", "/tmp"), _file("app/etc/evil")],
    "symlink chain": [_link("d", "."), _link("d/up", ".."), _file("d/up/evil")],
    "overwrite through a symlink": [_link("app/secret", "../../secret"), _file("app/secret")],
    "hard link to outside": [_link("app/h", "../secret", tarfile.LNKTYPE)],
    "device node": [_link("app/dev", "", tarfile.CHRTYPE)],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_members_are_refused_and_nothing_lands_outside(
    case: str, sandbox: tuple[Path, Path], tmp_path: Path
) -> None:
    into, outer = sandbox
    archive = _archive(tmp_path / "droplet.tar.gz", _file("app/ok.txt"), *HOSTILE[case])

    with pytest.raises(archives.UnsafeArchive, match="archive member"):
        archives.extract_file(archive, into)

    assert sorted(p.name for p in outer.iterdir()) == ["into", "secret"]
    assert (outer / "secret").read_text() == "keep me"
    assert not Path("/tmp/yun-archive-test-evil").exists()
    assert not Path("/tmp/evil").exists()


def test_a_droplet_with_a_virtualenv_extracts_whole(tmp_path: Path) -> None:
    """Symlinks may point anywhere (bin/python → the stack's interpreter): they are read where
    the droplet runs; set-id and group/other write bits are dropped."""
    archive = _archive(
        tmp_path / "droplet.tar.gz",
        _file("app/app.py", b"print('hi')"),
        _file("deps/0/venv/bin/gunicorn", b"#!/usr/bin/env python\n", mode=0o6777),
        _link("deps/0/venv/bin/python", "/usr/bin/python3"),
        _link("deps/0/venv/bin/python3", "python"),
        _link("app/node_modules/.bin/vite", "../vite/bin/vite.js"),
        _file("staging_info.json", b'{"process_types": {}}'),
    )
    into = tmp_path / "run"

    info = droplets.unpack(archive, into)

    assert info == {"process_types": {}}
    assert (into / "deps/0/venv/bin/python").readlink() == Path("/usr/bin/python3")
    assert (into / "app/app.py").read_text() == "print('hi')"
    assert (into / "deps/0/venv/bin/gunicorn").stat().st_mode & 0o7777 == 0o755
    assert "app/node_modules/.bin/vite" in _everything_under(into)
