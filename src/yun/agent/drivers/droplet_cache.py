"""Unpacked droplets, kept beside the run dirs so that an instance starts from a copy.

Each droplet file is unpacked once into `.droplets/` in the agent's root (root's alone) and
copied from there into every run dir with `cp -a`: untarring a few hundred files in Python takes
~0.2 s of CPU under the interpreter lock, the copy ~20 ms in another process, so parallel starts
stay parallel. Each instance still gets its own writable copy (no hard links into the cache).

A droplet just staged on this machine need not be unpacked at all: the staging folder it was
packed from already holds the tree. `adopt` moves that tree into the cache under the droplet's
key, with the modes unpacking would have given, so the release phase and the first instances of
a push start without unpacking (about a quarter of a warm push's time with containers). Where it
cannot (another filesystem), the first start unpacks as before.

Entries are keyed by the droplet file's path, size and mtime; unused entries expire after
`CACHE_KEEP`.
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
    """Put the droplet's `app/`, `deps/` and `staging_info.json` into the run dir: a copy of
    the droplet as unpacked once into the cache in `run_dir`'s parent."""
    source = unpacked_droplet(droplet, run_dir.parent / DROPLET_CACHE)
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


def adopt(droplet: Path, cache: Path, *, tree: Path) -> bool:
    """Make `tree` (the folder `droplet` was packed from) the droplet's entry in `cache`, moving
    its `app/`, `deps/` and `staging_info.json`; False, with the tree left for its owner to
    delete, when the entry exists already or the move is not possible."""
    entry = _entry(droplet, cache)
    with _entry_lock(entry):
        if entry.is_dir():
            return False
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = entry.with_name(f".{entry.name}-{uuid.uuid4().hex[:8]}")
        try:
            partial.mkdir(mode=0o700)
            for name in DROPLET_MEMBERS:
                if (tree / name).exists():
                    os.rename(tree / name, partial / name)
            _as_unpacked(partial)
            partial.rename(entry)
        except OSError as exc:
            log.info("droplet %s will be unpacked at its first start: %s", droplet.name, exc)
            shutil.rmtree(partial, ignore_errors=True)
            return False
    return True


def _entry(droplet: Path, cache: Path) -> Path:
    info = droplet.stat()
    identity = f"{droplet.resolve()}\0{info.st_size}\0{info.st_mtime_ns}"
    return cache / hashlib.sha256(identity.encode()).hexdigest()[:32]


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
