"""Staging on a stack: buildpacks run on the stack's root filesystem (its Python, Node, pip),
not the host's, and the droplet then runs on the same stack."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.stacks import built_stack

from yun.agent.drivers.runc_staging import RuncStaging
from yun.builder import StagingRequest, stage

APPS = Path(__file__).parents[2] / "apps"


@pytest.mark.parametrize(
    ("stack", "python"), [("bookworm", "3.11.2"), ("trixie", "3.13.5"), ("testing", "3.14")]
)
def test_a_flask_app_stages_with_the_stacks_python(
    tmp_path: Path, sandbox: RuncStaging, stack: str, python: str
) -> None:
    built = built_stack(stack)
    lines: list[str] = []
    request = StagingRequest(
        source_dir=APPS / "flask-procfile",
        work_dir=tmp_path / "work",
        cache_dir=tmp_path / "cache",
        buildpacks=[],
        env={},
        stack_root=built.rootfs,
    )

    result = stage(request, output=lines.append, sandbox=sandbox)

    assert (
        f"-----> Using the stack's Python {built.info['runtimes']['python']} (/usr/bin/python3)"
        in lines
    )
    assert built.info["runtimes"]["python"].startswith(python)
    assert result.process_types["web"] == "python app.py"
    listing = subprocess.run(
        ["tar", "-tzf", str(result.droplet)], capture_output=True, text=True, check=True
    ).stdout
    minor = ".".join(built.info["runtimes"]["python"].split(".")[:2])
    assert f"deps/0/venv/lib/python{minor}/site-packages/flask/" in listing
