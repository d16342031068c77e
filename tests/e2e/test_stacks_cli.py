"""`yun stacks` and `yun stack update` on a platform that runs the process driver: its apps
run on the machine's own programs, which is the one entry, and there is nothing to build."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.e2e.conftest import Platform

pytestmark = pytest.mark.e2e

APPS = Path(__file__).parents[1] / "apps"


def _own_python() -> str:
    return subprocess.run(
        ["/usr/bin/python3", "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_the_process_driver_lists_the_host_with_the_oss_python(platform: Platform) -> None:
    listed = json.loads(platform.cli("stacks", "--json").stdout)
    (host,) = listed
    own = _own_python()
    assert host["name"] == "host"
    assert host["runtimes"]["python"] == own
    rows = platform.cli("stacks").stdout.splitlines()
    assert rows[0].split() == ["name", "description", "runtimes", "built", "default"]
    assert rows[1].startswith("host ") and f"Python {own}" in rows[1]


def test_stack_update_without_stacks_is_one_line(platform: Platform) -> None:
    done = platform.cli("stack", "update", "trixie", check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: this platform runs apps on the host's own programs (process driver): no stacks"
    ]


def test_a_version_the_host_lacks_fails_in_one_line_saying_where_it_could_run(
    platform: Platform, tmp_path: Path
) -> None:
    folder = tmp_path / "django"
    shutil.copytree(APPS / "django-gunicorn", folder)  # its .python-version asks for 3.14

    failed = platform.cli("push", "wants-314", "-p", str(folder), check=False)

    assert failed.returncode != 0
    said = failed.stdout + failed.stderr
    own = _own_python()
    assert f".python-version asks for Python 3.14; available: Python {own} (host)" in said
    assert "the stacks, with other versions, are for the runc driver, as root" in said
    assert "Traceback" not in said
