"""Staging through a sandbox: every child of a staging goes through the sandbox's session, with
the staging's folders as the only writable ones; a sandbox that cannot start fails the staging
with one line. The fake sandbox runs each command on the host with exactly the env it is given."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from tests.unit.builder.builder_fakes import Lines, make_app, make_buildpack, make_request

from yun.builder import StagingError, stage


class RecordingSession:
    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    @contextlib.contextmanager
    def command(
        self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]
    ) -> Iterator[Sequence[str]]:
        self.commands.append(list(argv))
        yield ["env", "-i", "-C", str(cwd), *(f"{k}={v}" for k, v in env.items()), *argv]


class RecordingSandbox:
    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.session_ = RecordingSession()
        self.opened: list[tuple[list[Path], list[Path]]] = []
        self.closed = 0

    @contextlib.contextmanager
    def session(
        self,
        name: str,
        *,
        writable: Sequence[Path],
        readable: Sequence[Path],
        stack_root: Path | None = None,
    ) -> Iterator[RecordingSession]:
        if self.broken:
            raise RuntimeError("runc: cgroup mountpoint does not exist")
        self.opened.append((list(writable), list(readable)))
        try:
            yield self.session_
        finally:
            self.closed += 1


def test_every_buildpack_step_and_hook_runs_in_the_sandbox(tmp_path: Path) -> None:
    buildpack = make_buildpack(
        tmp_path / "bps",
        "mine",
        detect="echo Mine",
        supply='echo "supplied in $PWD"',
        finalize="echo finalized",
        release="echo 'default_process_types: {web: ./run}'",
    )
    app = make_app(tmp_path, {"run": "#!/bin/sh\n"})
    request = make_request(
        tmp_path,
        app=app,
        detect_order=[str(buildpack)],
        pre_staging=["echo pre"],
        post_staging=["echo post"],
    )
    sandbox = RecordingSandbox()
    lines = Lines()
    result = stage(request, output=lines, sandbox=sandbox)
    assert result.process_types == {"web": "./run"}
    ran = [Path(argv[0]).name for argv in sandbox.session_.commands]
    assert ran == ["bash", "detect", "supply", "finalize", "release", "bash"]
    ((writable, readable),) = sandbox.opened
    assert writable == [request.work_dir.absolute(), request.cache_dir.absolute()]
    assert all(not path.is_relative_to(tmp_path) for path in readable)  # nothing of the app's
    assert sandbox.closed == 1
    assert "-----> Creating staging container" in lines.lines
    assert f"supplied in {request.work_dir.absolute() / 'app'}" in lines.lines


def test_a_sandbox_that_cannot_start_fails_the_staging_in_one_line(tmp_path: Path) -> None:
    request = make_request(tmp_path, app=make_app(tmp_path), buildpacks=["binary"])
    with pytest.raises(StagingError, match="cannot start the staging container: runc: cgroup"):
        stage(request, output=Lines(), sandbox=RecordingSandbox(broken=True))
