"""Tiny fake buildpacks and a staging-request factory for the builder's unit tests.

A fake buildpack is a real folder with bash `bin/` scripts, so the tests drive the same contract
code path as a third-party buildpack would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from yun.builder import StagingRequest


def make_buildpack(root: Path, name: str, **steps: str) -> Path:
    """A buildpack folder `root/name` whose bin/<step> runs the given bash body."""
    folder = root / name
    (folder / "bin").mkdir(parents=True)
    for step, body in steps.items():
        script = folder / "bin" / step
        script.write_text(f"#!/usr/bin/env bash\nset -e\n{body}\n")
        script.chmod(0o755)
    return folder


def make_app(root: Path, files: Mapping[str, str] | None = None) -> Path:
    app = root / "src"
    app.mkdir(parents=True)
    for name, text in (files or {"index.txt": "hello\n"}).items():
        path = app / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return app


def make_request(
    tmp_path: Path,
    *,
    app: Path,
    buildpacks: Sequence[str | Path] = (),
    env: Mapping[str, str] | None = None,
    **options: Any,
) -> StagingRequest:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return StagingRequest(
        source_dir=app,
        work_dir=work,
        cache_dir=tmp_path / "cache",
        buildpacks=[str(bp) for bp in buildpacks],
        env=dict(env or {}),
        **options,
    )


class Lines:
    """An `output` callback that keeps every line it was given."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


RELEASE_WEB = "echo '---'; printf 'default_process_types:\\n  web: ./run-me\\n'"
"""A bin/release body that declares one web process."""
