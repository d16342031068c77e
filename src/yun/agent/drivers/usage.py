"""Measuring what an instance uses on the host, shared by the drivers.

Disk is measured rather than enforced by the filesystem: a real quota needs XFS project quotas or
a loop device per instance, neither of which a plain Debian host has. `disk_usage` counts
allocated blocks (sparse files count what they use, hard links once) and is what both `yun app`
shows and the runc driver compares with `disk_mb`. `PAGE_SIZE` turns the resident pages that
/proc reports into bytes, for drivers that have no cgroup to ask.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def disk_usage(paths: Iterable[Path]) -> int:
    """Bytes allocated to the files and directories under `paths` (each inode counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    pending = [str(path) for path in paths]
    while pending:
        current = pending.pop()
        try:
            info = os.lstat(current)
        except OSError:
            continue  # deleted while we walked
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        total += info.st_blocks * 512
        if stat.S_ISDIR(info.st_mode):
            with contextlib.suppress(OSError), os.scandir(current) as entries:
                pending.extend(entry.path for entry in entries)
    return total
