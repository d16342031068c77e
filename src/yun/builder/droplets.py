"""The droplet: what staging produces and every instance of a revision starts from.

A droplet is a gzipped tar with relative paths only:

    app/                the build dir (HOME of the running instance)
    deps/<index>/       what each buildpack supplied (DEPS_DIR of the running instance)
    staging_info.json   {"detected_buildpack", "start_command", "process_types", "buildpacks"}

It must be relocatable: the runtime unpacks it under any folder X and runs the launcher with
HOME=X/app and DEPS_DIR=X/deps. Buildpacks therefore refer to `$HOME` and `$DEPS_DIR` in their
profile.d scripts; `find_staging_paths` warns when one of those scripts still names the staging
folders. Process types come from the buildpack's release step, overridden per type by a Procfile.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from yun import archives

from .model import StagingError

DROPLET_NAME = "droplet.tar.gz"
STAGING_INFO = "staging_info.json"
_PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+?)\s*$")


def read_procfile(app_dir: Path) -> dict[str, str]:
    """Heroku Procfile: `type: command` per line; blank lines and comments are skipped."""
    procfile = app_dir / "Procfile"
    if not procfile.is_file():
        return {}
    types: dict[str, str] = {}
    for line in procfile.read_text(errors="replace").splitlines():
        match = _PROCFILE_LINE.match(line.strip())
        if match and not line.lstrip().startswith("#"):
            types[match.group(1)] = match.group(2)
    return types


def process_types(*, released: Mapping[str, str], procfile: Mapping[str, str]) -> dict[str, str]:
    """Defaults from `bin/release`; a Procfile entry replaces the default of the same type."""
    return {**released, **procfile}


def staging_info(
    *, detected: str, types: Mapping[str, str], buildpacks: Sequence[str]
) -> dict[str, Any]:
    return {
        "detected_buildpack": detected,
        "start_command": types.get("web", ""),
        "process_types": dict(types),
        "buildpacks": list(buildpacks),
    }


def pack(*, work_dir: Path, info: Mapping[str, Any], into: Path) -> Path:
    """Write the droplet of `work_dir/app` and `work_dir/deps` at `into`.

    GNU tar does it in its own process: a server that stages while it serves other apps does not
    pack file by file under its interpreter lock (three times slower there than alone). Owners
    are reset so the archive does not leak build users; names are sorted, so the same tree
    packs the same way."""
    info_file = work_dir / STAGING_INFO
    info_file.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    argv = ["tar", "--create", "--file", str(into), "--directory", str(work_dir)]
    argv += ["--use-compress-program", "gzip -1", "--sort=name"]  # fast: packing is on every push
    argv += ["--owner=0", "--group=0", "--numeric-owner", "--", "app", "deps", STAGING_INFO]
    done = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        said = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise StagingError(f"packing the droplet failed: {said[0]}")  # the first says why
    return into


def unpack(droplet: Path, into: Path) -> dict[str, Any]:
    """Extract a droplet under `into` (giving into/app and into/deps); returns its staging info."""
    archives.extract_file(droplet, into)
    info: dict[str, Any] = json.loads((into / STAGING_INFO).read_text())
    return info


def find_staging_paths(*, app_dir: Path, deps_dir: Path, staging_root: Path) -> list[Path]:
    """Startup scripts that still mention the staging folder (they will break once relocated)."""
    needle = str(staging_root).encode()
    candidates = [
        *app_dir.glob(".profile.d/*.sh"),
        app_dir / ".profile",
        *deps_dir.glob("*/profile.d/*.sh"),
        *deps_dir.glob("*/bin/*"),
    ]
    found = []
    for path in candidates:
        small = path.is_file() and not path.is_symlink() and path.stat().st_size < 1_000_000
        if small and needle in path.read_bytes():
            found.append(path)
    return found
