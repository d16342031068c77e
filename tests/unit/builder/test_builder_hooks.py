"""Stackato staging extensions: pre/post-staging hooks and requirements.ubuntu."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.builder.builder_fakes import Lines, make_app, make_buildpack, make_request

from yun.builder import StagingError, stage, unpack_droplet

DETECT_GENERATED = '[ -f "$1/generated.txt" ] && echo generated-app'


def test_pre_staging_hooks_run_in_the_build_dir_before_detection(tmp_path: Path) -> None:
    bp = make_buildpack(tmp_path / "bps", "gen", detect=DETECT_GENERATED, finalize="true")
    request = make_request(
        tmp_path,
        app=make_app(tmp_path),
        detect_order=[str(bp)],
        pre_staging=["echo made by hook > generated.txt", 'echo "hook sees $GREETING"'],
        env={"GREETING": "hi"},
    )
    out = Lines()

    result = stage(request, output=out)

    assert result.detected == "generated-app"
    assert "hook sees hi" in out.lines
    assert "-----> Running pre-staging hook: echo made by hook > generated.txt" in out.lines
    unpack_droplet(result.droplet, tmp_path / "out")
    assert (tmp_path / "out" / "app" / "generated.txt").read_text() == "made by hook\n"


def test_post_staging_hooks_see_the_runtime_environment(tmp_path: Path) -> None:
    finalize = 'mkdir -p "$3/$4/profile.d"; echo "export TOOL=from-deps" > "$3/$4/profile.d/t.sh"'
    bp = make_buildpack(tmp_path / "bps", "bp", finalize=finalize)
    request = make_request(
        tmp_path,
        app=make_app(tmp_path),
        buildpacks=[bp],
        post_staging=['echo "$TOOL in $(pwd)" > post.txt'],
    )

    result = stage(request, output=Lines())

    unpack_droplet(result.droplet, tmp_path / "out")
    text = (tmp_path / "out" / "app" / "post.txt").read_text()
    assert text == f"from-deps in {request.work_dir / 'app'}\n"


def test_failing_hook_stops_staging_with_its_command(tmp_path: Path) -> None:
    bp = make_buildpack(tmp_path / "bps", "bp", finalize='touch "$1/finalized"')
    request = make_request(
        tmp_path, app=make_app(tmp_path), buildpacks=[bp], pre_staging=["echo nope; exit 4"]
    )
    out = Lines()
    with pytest.raises(
        StagingError, match=r"^pre-staging hook failed \(exit 4\): echo nope; exit 4$"
    ):
        stage(request, output=out)
    assert "nope" in out.lines
    assert not (request.work_dir / "app" / "finalized").exists()


def test_missing_ubuntu_requirement_is_named(tmp_path: Path) -> None:
    bp = make_buildpack(tmp_path / "bps", "bp", finalize="true")
    request = make_request(
        tmp_path,
        app=make_app(tmp_path),
        buildpacks=[bp],
        ubuntu_requirements=["bash", "yun-no-such-package-xyz"],
    )
    with pytest.raises(StagingError) as failure:
        stage(request, output=Lines())
    message = str(failure.value)
    assert "requirements.ubuntu: not installed on this stack: yun-no-such-package-xyz" in message
    assert "bash," not in message


def test_installed_ubuntu_requirements_pass(tmp_path: Path) -> None:
    bp = make_buildpack(tmp_path / "bps", "bp", finalize="true")
    request = make_request(
        tmp_path, app=make_app(tmp_path), buildpacks=[bp], ubuntu_requirements=["bash", "coreutils"]
    )
    out = Lines()
    stage(request, output=out)
    assert "-----> Ubuntu requirements present: bash, coreutils" in out.lines
