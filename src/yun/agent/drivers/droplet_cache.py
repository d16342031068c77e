"""Unpacked droplets, kept beside the run dirs so that an instance starts from a copy.

Each droplet file is unpacked once into `.droplets/` in the agent's root (root's alone) and
copied from there into every run dir with `cp -a`: untarring a few hundred files in Python takes
~0.2 s of CPU under the interpreter lock, the copy ~20 ms in another process, so parallel starts
stay parallel. Each instance still gets its own writable copy (no hard links into the cache).

A droplet just staged on this machine need not be unpacked, nor even copied, for its first
start: the staging folder it was packed from already holds the tree. `park_staged` parks that tree
beside the cache, with the modes unpacking would have given, and the next start of the droplet
(the release phase, or the first instance of a push) moves it into its run dir. Creating a few
hundred files is what a warm push spent most of its time on with containers (0.2-0.4 s a copy
while the disk is busy with the staging's own writes). Later starts copy from the cache as
above. Where the tree cannot be moved (another filesystem), starts unpack as before.

Entries are keyed by the droplet file's path, size and mtime; unused entries (and parked trees
no start took) expire after `CACHE_KEEP`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import subprocess
import threading
import time
import uuid
from pathlib import Path

from yun import archives

DROPLET_CACHE = ".droplets"  # in the agent's root, beside the run dirs; the agent skips dot dirs
CACHE_KEEP = 3600.0  # seconds an unpacked droplet stays cached after its last use
COPY_TIMEOUT = 300.0
DROPLET_MEMBERS = ("app", "deps", "staging_info.json")  # what a staging folder gives a droplet

log = logging.getLogger(__name__)
_cache_lock = threading.Lock()  # orders using, adding and sweeping entries
_unpacking: dict[Path, threading.Lock] = {}  # one unpacking at a time per entry


def extract_droplet(droplet: Path, run_dir: Path) -> None:
    """Put the droplet's `app/`, `deps/` and `staging_info.json` into the run dir: the tree it
    was staged from while no start has taken it (moved), else a copy of the droplet as unpacked
    once into the cache in `run_dir`'s parent."""
    cache = run_dir.parent / DROPLET_CACHE
    if _take_staged(droplet, cache, into=run_dir):
        return
    source = unpacked_droplet(droplet, cache)
    names = sorted(os.listdir(source))
    if not names:
        return
    done = subprocess.run(
        ["cp", "-a", "--reflink=auto", "-t", str(run_dir), "--", *(str(source / n) for n in names)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COPY_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise OSError(f"copying droplet {droplet} failed: {done.stderr.strip()}")


def unpacked_droplet(droplet: Path, cache: Path) -> Path:
    """The droplet unpacked in `cache`. The first caller unpacks it, callers at the same time
    wait for that one; unused entries expire."""
    entry = _entry(droplet, cache)
    with _entry_lock(entry):
        with _cache_lock:
            if entry.is_dir():
                os.utime(entry)  # in use: not to be swept for another CACHE_KEEP
                return entry
        _unpack(droplet, entry)
        with _cache_lock:
            _sweep(cache, now=time.time())
    return entry


def park_staged(droplet: Path, cache: Path, *, tree: Path) -> bool:
    """Park `tree` (the folder `droplet` was packed from) in `cache` for the droplet's next
    start to take, moving its `app/`, `deps/` and `staging_info.json`; False, with the tree left
    for its owner to delete, when one is parked already or the move is not possible."""
    try:
        staged = _staged(droplet, cache)
    except OSError as exc:  # a speed-up only: staging must not fail for it
        log.info("droplet %s will be unpacked at its first start: %s", droplet.name, exc)
        return False
    with _entry_lock(staged):
        if staged.is_dir():
            return False
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = staged.with_name(f"{staged.name}-{uuid.uuid4().hex[:8]}")
        try:
            partial.mkdir(mode=0o700)
            for name in DROPLET_MEMBERS:
                if (tree / name).exists():
                    os.rename(tree / name, partial / name)
            _as_unpacked(partial)
            partial.rename(staged)
        except OSError as exc:
            log.info("droplet %s will be unpacked at its first start: %s", droplet.name, exc)
            shutil.rmtree(partial, ignore_errors=True)
            return False
    return True


def _take_staged(droplet: Path, cache: Path, *, into: Path) -> bool:
    """Move the parked staged tree of `droplet` into `into`; False when there is none."""
    staged = _staged(droplet, cache)
    with _entry_lock(staged):
        if not staged.is_dir():
            return False
        claimed = staged.with_name(f"{staged.name}-{uuid.uuid4().hex[:8]}")
        staged.rename(claimed)  # one start takes it, even if moving it fails half-way
    try:
        for name in os.listdir(claimed):
            os.rename(claimed / name, into / name)
    finally:
        shutil.rmtree(claimed, ignore_errors=True)
    return True


def _entry(droplet: Path, cache: Path) -> Path:
    info = droplet.stat()
    identity = f"{droplet.resolve()}\0{info.st_size}\0{info.st_mtime_ns}"
    return cache / hashlib.sha256(identity.encode()).hexdigest()[:32]


def _staged(droplet: Path, cache: Path) -> Path:
    entry = _entry(droplet, cache)
    return entry.with_name(f".staged-{entry.name}")


def _entry_lock(entry: Path) -> threading.Lock:
    with _cache_lock:
        return _unpacking.setdefault(entry, threading.Lock())


def _as_unpacked(top: Path) -> None:
    """What `archives.extract` would have made of the tree: owned by root, without set-id,
    sticky or group/other write bits, and nothing but files, folders, links and FIFOs."""
    as_root = os.geteuid() == 0
    for directory, subdirs, files in os.walk(top):
        for name in (*subdirs, *files):
            path = os.path.join(directory, name)
            mode = os.lstat(path).st_mode
            kept = (stat.S_ISREG, stat.S_ISDIR, stat.S_ISLNK, stat.S_ISFIFO)
            if not any(kind(mode) for kind in kept):  # sockets and devices are not packed
                os.unlink(path)
                continue
            if as_root:
                os.lchown(path, 0, 0)
            if not stat.S_ISLNK(mode) and mode & archives.DROPPED_MODE_BITS:
                os.chmod(path, stat.S_IMODE(mode) & ~archives.DROPPED_MODE_BITS)


def _unpack(droplet: Path, entry: Path) -> None:
    entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = entry.with_name(f".{entry.name}-{uuid.uuid4().hex[:8]}")
    try:
        archives.extract_file(droplet, partial)  # refuses paths outside `partial`
        partial.rename(entry)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        if not entry.is_dir():  # else another agent on this root unpacked it first
            raise
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _sweep(cache: Path, *, now: float) -> None:
    """Delete entries (and leftovers of interrupted unpacking) unused for CACHE_KEEP."""
    for path in cache.iterdir():
        try:
            unused = now - path.stat().st_mtime
        except OSError:
            continue
        if unused > CACHE_KEEP:
            shutil.rmtree(path, ignore_errors=True)
            _unpacking.pop(path, None)
