"""An instance's OCI bundle on disk.

The bundle is the instance's run directory: `config.json`, a `rootfs/` that holds only mount
points, symlinks and the generated `/etc/passwd`, `/etc/group` and `/etc/hosts`, the extracted
droplet (`app/`, `deps/`, owned by the container's `vcap` user so the app can write its own
directory), and `status/` where the launcher leaves the exit status for the driver to read.

The droplet comes from the agent's cache of unpacked droplets (`droplet_cache`), copied.

Disk quota is measured (`usage.disk_usage`, re-exported here) over the writable directories; the
driver compares it with `disk_mb` every few seconds.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from yun.agent.drivers.oci import Stack, generated_etc, group_file, hosts_file, passwd_file
from yun.agent.drivers.usage import disk_usage as disk_usage

log = logging.getLogger(__name__)


def chown_tree(path: Path, uid: int, gid: int) -> None:
    """Give a tree to the container's user; symlinks themselves, never what they point to."""
    os.lchown(path, uid, gid)
    for directory, subdirs, files in os.walk(path):
        for name in (*subdirs, *files):
            os.lchown(os.path.join(directory, name), uid, gid)


def searchable(path: Path) -> None:
    """Let anyone pass through `path`'s folders (o+x; reading them is another right), so that
    a container's root in a user namespace, nobody on the host, reaches its bind mounts'
    sources. Folders that allow it already are left as they are."""
    for folder in (path if path.is_dir() else path.parent, *path.parents):
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.info("letting containers' users pass through %s (o+x)", folder)
            folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


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
    etc = generated_etc(rootfs, stack)
    etc.mkdir(mode=0o755, exist_ok=True)
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
