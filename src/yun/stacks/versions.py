"""Runtime versions of a userland: read from dpkg's database for a stack (nothing in it is run),
asked of the programs themselves for the host's own userland.

Debian versions carry an epoch and a revision (`2:1.19~1`, `18.19.0+dfsg-6~deb12u2`); the
runtime's own version is the leading run of digits and dots after the epoch. For Java and Go the
versioned packages (`openjdk-17-jdk-headless`, `golang-1.19-go`) are read, since the default-*
packages carry versions of their own.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

_VERSIONED = {
    "python": re.compile(r"^python3\.\d+$"),
    "node": re.compile(r"^nodejs$"),
    "java": re.compile(r"^openjdk-\d+-jdk-headless$"),
    "go": re.compile(r"^golang-\d+\.\d+-go$"),
}
_LEADING_VERSION = re.compile(r"^(?:\d+:)?(\d+(?:\.\d+)*)")

# How to ask the host's programs: argv, and the pattern of the version in what they print.
# Python is the OS's, which the python buildpack uses whatever else comes first on PATH.
_HOST_PROBES = {
    "python": (["/usr/bin/python3", "--version"], re.compile(r"Python (\d+\.\d+\.\d+)")),
    "node": (["node", "--version"], re.compile(r"v(\d+\.\d+\.\d+)")),
    "java": (["java", "-version"], re.compile(r'version "(\d+(?:\.\d+)*)')),
    "go": (["go", "version"], re.compile(r"go(\d+\.\d+(?:\.\d+)?)")),
}


def upstream_version(debian_version: str) -> str:
    """`2:1.19~1` → `1.19`; `18.19.0+dfsg-6~deb12u2` → `18.19.0`."""
    match = _LEADING_VERSION.match(debian_version.strip())
    return match.group(1) if match else ""


def installed_packages(rootfs: Path) -> dict[str, str]:
    """Package name → Debian version of every installed package in `rootfs`."""
    status = rootfs / "var" / "lib" / "dpkg" / "status"
    packages: dict[str, str] = {}
    for block in status.read_text(errors="replace").split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != " "
        )
        if fields.get("Status", "").endswith(" installed") and "Package" in fields:
            packages[fields["Package"]] = fields.get("Version", "")
    return packages


def runtime_versions(rootfs: Path) -> dict[str, str]:
    """Runtime name → version, for the runtimes installed in the stack at `rootfs`."""
    packages = installed_packages(rootfs)
    found: dict[str, str] = {}
    for runtime, pattern in _VERSIONED.items():
        names = sorted((name for name in packages if pattern.match(name)), key=_numeric)
        if names:
            found[runtime] = upstream_version(packages[names[-1]])
    return found


def host_versions() -> dict[str, str]:
    """Runtime name → version of the host's own programs, for those on its PATH."""
    found: dict[str, str] = {}
    for runtime, (argv, pattern) in _HOST_PROBES.items():
        if shutil.which(argv[0]) is None:
            continue
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        match = pattern.search(done.stdout + done.stderr)
        if match:
            found[runtime] = match.group(1)
    return found


def _numeric(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))
