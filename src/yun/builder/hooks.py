"""HPE Stackato's staging extensions: hooks around the buildpacks and required Debian packages.

Stackato manifests carry `hooks: {pre-staging: [...], post-staging: [...]}` and
`requirements: {ubuntu: [...]}`. Pre-staging hooks run in the fresh build dir with the staging
environment (they may generate files that detection then sees). Post-staging hooks run through the
instance launcher, so they see what the app will see at runtime (the python buildpack's packages,
PATH entries from `.profile.d`): `python3 manage.py collectstatic` works there as it did on
Stackato. Ubuntu requirements cannot be installed per app on a shared host stack, so the builder
checks that each one is present and names every missing package in one error.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence

from .contract import Layout
from .launcher import launcher_path
from .model import StagingError
from .processes import Output, Runner, run_streaming


def check_ubuntu_requirements(packages: Sequence[str], *, output: Output) -> None:
    if not packages:
        return
    if shutil.which("dpkg-query") is None:
        raise StagingError("requirements.ubuntu needs a Debian/Ubuntu stack (no dpkg-query here)")
    missing = [name for name in packages if not _installed(name)]
    if missing:
        names = ", ".join(missing)
        raise StagingError(
            f"requirements.ubuntu: not installed on this stack: {names} "
            "(an operator must apt-get install them)"
        )
    output(f"-----> Ubuntu requirements present: {', '.join(packages)}")


def _installed(package: str) -> bool:
    if not package or package.startswith("-"):
        return False
    done = subprocess.run(
        ["dpkg-query", "--show", "--showformat=${Status}", "--", package],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0 and done.stdout.strip().endswith(" installed")


def run_pre_staging(
    commands: Sequence[str],
    *,
    layout: Layout,
    env: Mapping[str, str],
    output: Output,
    run: Runner = run_streaming,
) -> None:
    for command in commands:
        output(f"-----> Running pre-staging hook: {command}")
        done = run(["bash", "-c", command], cwd=layout.app, env=env, output=output)
        _check("pre-staging", command, done.returncode)


def run_post_staging(
    commands: Sequence[str],
    *,
    layout: Layout,
    env: Mapping[str, str],
    output: Output,
    run: Runner = run_streaming,
) -> None:
    runtime_env = {**env, "HOME": str(layout.app), "DEPS_DIR": str(layout.deps)}
    runtime_env.pop("YUN_EXIT_FILE", None)
    for command in commands:
        output(f"-----> Running post-staging hook: {command}")
        done = run(
            ["bash", str(launcher_path()), command], cwd=layout.app, env=runtime_env, output=output
        )
        _check("post-staging", command, done.returncode)


def _check(kind: str, command: str, returncode: int) -> None:
    if returncode != 0:
        raise StagingError(f"{kind} hook failed (exit {returncode}): {command}")
