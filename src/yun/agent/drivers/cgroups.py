"""Reading an instance's cgroup: memory and CPU use, and whether the OOM killer struck.

runc creates and limits the cgroup (`linux.cgroupsPath` in config.json); the driver only reads
it, to tell a user that their instance died *because it ran out of memory* (Cloud Foundry's
"out of memory" crash reason) and to show memory use in `yun app`. The cgroup outlives the
container's processes until `runc delete`, so the driver looks before it deletes.

Both hierarchies are handled: cgroup v1 (one tree per controller, `memory.oom_control` has an
`oom_kill` counter since Linux 4.13) and v2 (one unified tree, `memory.events`). On a hybrid
host (v1 controllers plus an empty `unified` tree) runc uses v1, and so do we.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def is_unified(root: Path = CGROUP_ROOT) -> bool:
    """Whether the host runs the cgroup v2 unified hierarchy (as runc decides it)."""
    return (root / "cgroup.controllers").exists()


def parse_flat_keyed(text: str) -> dict[str, int]:
    """`key value` lines, the format of memory.stat, memory.events and memory.oom_control."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            values[key] = int(value.strip())
    return values


def oom_kills(values: Mapping[str, int]) -> int | None:
    """The OOM kill counter of parsed memory.oom_control (v1) or memory.events (v2); None when
    the kernel does not count (v1 before 4.13)."""
    return values.get("oom_kill")


def working_set(usage: int, stat: Mapping[str, int], *, unified: bool) -> int:
    """Memory in use minus the page cache the kernel can drop at once (what `docker stats` and
    cAdvisor report): the figure that, at the limit, means an OOM kill."""
    inactive = stat.get("inactive_file" if unified else "total_inactive_file", 0)
    return max(0, usage - inactive)


@dataclass(frozen=True)
class Cgroup:
    """The memory cgroup at `path` (a cgroupsPath such as "/yun/<id>") under `root`."""

    path: str
    root: Path = CGROUP_ROOT

    @property
    def unified(self) -> bool:
        return is_unified(self.root)

    @property
    def memory_dir(self) -> Path:
        relative = self.path.lstrip("/")
        return self.root / relative if self.unified else self.root / "memory" / relative

    def exists(self) -> bool:
        return self.memory_dir.is_dir()

    def _read(self, name: str) -> str | None:
        try:
            return (self.memory_dir / name).read_text()
        except OSError:
            return None

    def oom_killed(self) -> bool | None:
        """Whether the OOM killer killed a process of the cgroup; None when nobody can tell
        (cgroup gone, or an old v1 kernel without the counter)."""
        text = self._read("memory.events" if self.unified else "memory.oom_control")
        if text is None:
            return None
        count = oom_kills(parse_flat_keyed(text))
        if count is not None:
            return count > 0
        failures = self._read("memory.failcnt")  # old v1: the limit was at least hit
        if failures is None or not failures.strip().isdigit():
            return None
        return int(failures) > 0

    def cpu_seconds(self) -> float | None:
        """CPU time the cgroup's processes used so far, or None when the cgroup is gone."""
        relative = self.path.lstrip("/")
        try:
            if self.unified:
                text = (self.root / relative / "cpu.stat").read_text()
                usec = parse_flat_keyed(text).get("usage_usec")
                return None if usec is None else usec / 1e6
            return int((self.root / "cpuacct" / relative / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError):
            return None

    def memory_usage(self) -> int | None:
        """Bytes in use (working set), or None when the cgroup is gone."""
        unified = self.unified
        usage = self._read("memory.current" if unified else "memory.usage_in_bytes")
        if usage is None or not usage.strip().isdigit():
            return None
        stat = parse_flat_keyed(self._read("memory.stat") or "")
        return working_set(int(usage), stat, unified=unified)


def swap_accounting(root: Path = CGROUP_ROOT) -> bool:
    """Whether a memory+swap limit can be set: v2 always, v1 only with memsw files (the kernel
    boots with swapaccount=1). runc refuses a swap limit it cannot apply."""
    if is_unified(root):
        return True
    return (root / "memory" / "memory.memsw.limit_in_bytes").exists()
