"""An instance's OCI bundle on disk.

The bundle is the instance's run directory: `config.json`, a `rootfs/` that holds only mount
points, symlinks and the generated `/etc/passwd`, `/etc/group` and `/etc/hosts`, the extracted
droplet (`app/`, `deps/`, owned by the container's `vcap` user so the app can write its own
directory), and `status/` where the launcher leaves the exit status for the driver to read.

The droplet is unpacked once per droplet file into a cache next to the run dirs (`.droplets/`,
root's alone) and copied from there with `cp -a`: untarring a few hundred files in Python takes
~0.2 s of CPU under the GIL, the copy ~20 ms in another process, so parallel starts stay
parallel. Each instance still gets its own writable copy (no hard links into the cache).

Disk quota is measured (`usage.disk_usage`, re-exported here) over the writable directories; the
driver compares it with `disk_mb` every few seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from yun import archives
from yun.agent.drivers.oci import Stack, group_file, hosts_file, passwd_file
from yun.agent.drivers.usage import disk_usage as disk_usage

DROPLET_CACHE = ".droplets"  # in the agent's root, beside the run dirs; the agent skips dot dirs
CACHE_KEEP = 3600.0  # seconds an unpacked droplet stays cached after its last use
COPY_TIMEOUT = 300.0

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
    """The droplet unpacked in `cache`, keyed by its path, size and mtime. The first caller
    unpacks it, callers at the same time wait for that one; unused entries expire."""
    info = droplet.stat()
    identity = f"{droplet.resolve()}\0{info.st_size}\0{info.st_mtime_ns}"
    entry = cache / hashlib.sha256(identity.encode()).hexdigest()[:32]
    with _cache_lock:
        unpacking = _unpacking.setdefault(entry, threading.Lock())
    with unpacking:
        with _cache_lock:
            if entry.is_dir():
                os.utime(entry)  # in use: not to be swept for another CACHE_KEEP
                return entry
        _unpack(droplet, entry)
        with _cache_lock:
            _sweep(cache, now=time.time())
    return entry


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


def chown_tree(path: Path, uid: int, gid: int) -> None:
    """Give a tree to the container's user; symlinks themselves, never what they point to."""
    os.lchown(path, uid, gid)
    for directory, subdirs, files in os.walk(path):
        for name in (*subdirs, *files):
            os.lchown(os.path.join(directory, name), uid, gid)


def make_rootfs(
    rootfs: Path, *, stack: Stack, hostname: str, address: str, dns: Sequence[str] = ()
) -> None:
    """The container's root: empty but for symlinks into /usr and the generated /etc files.

    `dns`, when given, replaces the host's resolv.conf (whose nameserver, e.g. a stub resolver
    on 127.0.0.53, may not be reachable from a container's own network namespace).
    """
    rootfs.mkdir(mode=0o755)
    for name, target in stack.links.items():
        (rootfs / name).symlink_to(target)
    for name in ("etc", "home/vcap", "lifecycle", "proc", "dev", "sys", "tmp"):
        (rootfs / name).mkdir(mode=0o755, parents=True, exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)  # runc gives a tmpfs the mode of the dir it covers
    etc = rootfs / "etc"
    files = {
        "passwd": passwd_file(),
        "group": group_file(),
        "hosts": hosts_file(hostname, address),
        "hostname": f"{hostname}\n",
    }
    if dns:
        files["resolv.conf"] = "".join(f"nameserver {server}\n" for server in dns)
    for name, text in files.items():
        (etc / name).write_text(text)
        (etc / name).chmod(0o644)


def write_config(bundle: Path, config: Mapping[str, Any]) -> None:
    path = bundle / "config.json"
    path.write_text(json.dumps(config, indent=1))
    path.chmod(0o600)  # holds the app's environment, credentials included
