"""The runc driver's droplet cache: each droplet is unpacked once, and every instance still gets
its own copy, exactly as the droplet holds it (modes, times, links), free to change it."""

from __future__ import annotations

import io
import os
import shutil
import socket
import stat
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import write_droplet

from yun import archives
from yun.agent.drivers.droplet_cache import CACHE_KEEP, DROPLET_CACHE, extract_droplet, park_staged
from yun.builder import droplets

MTIME = 1_600_000_000  # what the droplet says; Python trusts a .pyc only if its source keeps it


def member(tar: tarfile.TarFile, name: str, **fields: Any) -> None:
    data = fields.pop("data", b"")
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), MTIME
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def droplet(tmp_path: Path) -> Path:
    path = tmp_path / "droplet.tgz"
    with tarfile.open(path, "w:gz") as tar:
        member(tar, "app", type=tarfile.DIRTYPE, mode=0o755)
        member(tar, "app/server.py", data=b"print('hi')\n", mode=0o644)
        member(tar, "app/start.sh", data=b"#!/bin/sh\n", mode=0o755)
        member(tar, "app/current", type=tarfile.SYMTYPE, linkname="server.py")
        member(tar, "deps", type=tarfile.DIRTYPE, mode=0o755)
        member(tar, "staging_info.json", data=b"{}", mode=0o644)
    return path


@pytest.fixture
def unpacks(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every droplet the cache opened with tarfile to read."""
    opened: list[Path] = []
    real_open = tarfile.open

    def counting_open(name: Path, mode: str = "r", **kwargs: Any) -> tarfile.TarFile:
        if mode.startswith("r"):
            opened.append(Path(name))
        return real_open(name, mode, **kwargs)

    monkeypatch.setattr(archives.tarfile, "open", counting_open)
    return opened


def run_dir(root: Path, name: str) -> Path:
    path = root / "instances" / name
    path.mkdir(parents=True)
    return path


def test_each_instance_gets_the_droplet_as_it_is(tmp_path: Path, droplet: Path) -> None:
    run = run_dir(tmp_path, "one")
    extract_droplet(droplet, run)
    assert sorted(os.listdir(run)) == ["app", "deps", "staging_info.json"]
    assert (run / "app/server.py").read_text() == "print('hi')\n"
    assert (run / "app/server.py").stat().st_mtime == MTIME
    assert stat.S_IMODE((run / "app/start.sh").stat().st_mode) == 0o755
    assert (run / "app/current").readlink() == Path("server.py")
    assert stat.S_IMODE(run.stat().st_mode) == 0o755  # the run dir itself stays as it was


def test_instances_do_not_share_files(tmp_path: Path, droplet: Path) -> None:
    one, two = run_dir(tmp_path, "one"), run_dir(tmp_path, "two")
    extract_droplet(droplet, one)
    extract_droplet(droplet, two)
    with (one / "app/server.py").open("a") as f:
        f.write("changed\n")
    assert (two / "app/server.py").read_text() == "print('hi')\n"
    assert (one / "app/server.py").stat().st_ino != (two / "app/server.py").stat().st_ino
    three = run_dir(tmp_path, "three")
    extract_droplet(droplet, three)
    assert (three / "app/server.py").read_text() == "print('hi')\n"


def test_a_droplet_is_unpacked_once_even_by_concurrent_starts(
    tmp_path: Path, droplet: Path, unpacks: list[Path]
) -> None:
    runs = [run_dir(tmp_path, f"r{i}") for i in range(6)]
    threads = [threading.Thread(target=extract_droplet, args=(droplet, run)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert unpacks == [droplet]
    assert all((run / "app/server.py").exists() for run in runs)
    cache = tmp_path / "instances" / DROPLET_CACHE
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700  # root's alone
    assert len(list(cache.iterdir())) == 1


def test_a_new_droplet_at_the_same_path_is_unpacked_afresh(
    tmp_path: Path, droplet: Path, unpacks: list[Path]
) -> None:
    extract_droplet(droplet, run_dir(tmp_path, "old"))
    write_droplet(droplet, {"app/server.py": "print('new')\n"})
    new = run_dir(tmp_path, "new")
    extract_droplet(droplet, new)
    assert (new / "app/server.py").read_text() == "print('new')\n"
    assert len(unpacks) == 2


def test_droplets_unused_for_a_while_leave_the_cache(tmp_path: Path, droplet: Path) -> None:
    extract_droplet(droplet, run_dir(tmp_path, "old"))
    cache = tmp_path / "instances" / DROPLET_CACHE
    (stale,) = cache.iterdir()
    long_ago = time.time() - CACHE_KEEP - 60
    os.utime(stale, (long_ago, long_ago))
    other = write_droplet(tmp_path / "other.tgz", {"app/other.py": ""})
    extract_droplet(other, run_dir(tmp_path, "other"))
    assert stale not in list(cache.iterdir())
    assert len(list(cache.iterdir())) == 1


def test_a_droplet_reaching_outside_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tgz"
    with tarfile.open(bad, "w:gz") as tar:
        member(tar, "app", type=tarfile.DIRTYPE, mode=0o755)
        member(tar, "../escape.txt", data=b"x", mode=0o644)
    run = run_dir(tmp_path, "bad")
    with pytest.raises(archives.UnsafeArchive, match="outside the target folder"):
        extract_droplet(bad, run)
    assert not (tmp_path / "instances" / "escape.txt").exists()
    assert list((tmp_path / "instances" / DROPLET_CACHE).iterdir()) == []
    assert list(run.iterdir()) == []


def staged_tree(work: Path) -> Path:
    """A staging folder as buildpacks leave it, odd modes and a leftover socket included."""
    (work / "app/sub").mkdir(parents=True)
    (work / "app/server.py").write_text("print('hi')\n")
    (work / "app/shared.txt").write_text("everyone writes\n")
    (work / "app/shared.txt").chmod(0o666)
    (work / "app/tool").write_text("#!/bin/sh\n")
    (work / "app/tool").chmod(0o4755)
    (work / "app/current").symlink_to("server.py")
    (work / "deps/0/bin").mkdir(parents=True)
    (work / "deps/0/bin/python").symlink_to("/usr/bin/python3")  # outside: fine for a link
    os.link(work / "app/server.py", work / "app/sub/again.py")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(work / "app/daemon.sock"))
    return work


def tree_listing(top: Path) -> dict[str, tuple[str, int, int, str]]:
    """What an instance would notice of a tree: kinds, modes, whole-second mtimes, contents."""
    found: dict[str, tuple[str, int, int, str]] = {}
    for path in sorted(top.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            found[str(path.relative_to(top))] = ("link", 0, 0, str(path.readlink()))
            continue
        kind = "dir" if path.is_dir() else "file"
        text = "" if path.is_dir() else path.read_text()
        mtime = 0 if path.is_dir() else int(info.st_mtime)  # copying sets folders' times
        found[str(path.relative_to(top))] = (kind, stat.S_IMODE(info.st_mode), mtime, text)
    return found


def test_a_staged_tree_serves_as_its_droplet_unpacked(tmp_path: Path, unpacks: list[Path]) -> None:
    work = staged_tree(tmp_path / "staging")
    droplet = droplets.pack(work_dir=work, info={"process_types": {}}, into=tmp_path / "d.tgz")
    expected = tmp_path / "unpacked"
    archives.extract_file(droplet, expected)
    unpacks.clear()

    cache = tmp_path / "instances" / DROPLET_CACHE
    assert park_staged(droplet, cache, tree=work)
    assert not (work / "app").exists() and not (work / "deps").exists()  # moved, not copied
    first = run_dir(tmp_path, "first")
    extract_droplet(droplet, first)
    assert unpacks == []  # the first start took the staged tree
    assert tree_listing(first) == tree_listing(expected)
    assert stat.S_IMODE((first / "app/shared.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((first / "app/tool").stat().st_mode) == 0o755
    assert not (first / "app/daemon.sock").exists()

    (first / "app/server.py").write_text("changed by the first instance\n")
    second = run_dir(tmp_path, "second")
    extract_droplet(droplet, second)  # from the droplet itself: the staged tree is the first's
    assert unpacks == [droplet]
    assert tree_listing(second) == tree_listing(expected)


def test_a_tree_parked_already_leaves_the_next_one_alone(tmp_path: Path) -> None:
    droplet = droplets.pack(
        work_dir=staged_tree(tmp_path / "one"), info={}, into=tmp_path / "d.tgz"
    )
    cache = tmp_path / "instances" / DROPLET_CACHE
    assert park_staged(droplet, cache, tree=tmp_path / "one")
    other = staged_tree(tmp_path / "other")
    assert not park_staged(droplet, cache, tree=other)
    assert (other / "app/server.py").read_text() == "print('hi')\n"
    assert len(list(cache.iterdir())) == 1


def test_a_tree_that_cannot_be_moved_is_unpacked_at_the_first_start(
    tmp_path: Path, unpacks: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    work = staged_tree(tmp_path / "staging")
    droplet = droplets.pack(work_dir=work, info={}, into=tmp_path / "d.tgz")
    cache = tmp_path / "instances" / DROPLET_CACHE

    def other_filesystem(source: str | Path, target: str | Path) -> None:
        raise OSError(18, "Invalid cross-device link")

    with monkeypatch.context() as patched:
        patched.setattr(os, "rename", other_filesystem)
        assert not park_staged(droplet, cache, tree=work)
    assert list(cache.iterdir()) == []
    run = run_dir(tmp_path, "first")
    extract_droplet(droplet, run)
    assert unpacks == [droplet]
    assert (run / "app/server.py").read_text() == "print('hi')\n"
    shutil.rmtree(work)


def test_a_droplet_gone_before_its_tree_is_parked_is_no_error(tmp_path: Path) -> None:
    work = staged_tree(tmp_path / "staging")
    assert not park_staged(tmp_path / "gone.tgz", tmp_path / "instances" / DROPLET_CACHE, tree=work)
    assert (work / "app/server.py").exists()
