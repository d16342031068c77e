"""Naming buildpacks: built-in aliases, local folders and zips, git URLs."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest
from tests.unit.builder.builder_fakes import (
    RELEASE_WEB,
    Lines,
    make_app,
    make_buildpack,
    make_request,
)

from yun.builder import StagingError, stage, unpack_droplet
from yun.builder.buildpack_sources import builtin_name, is_git_url, resolve


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("python", "python"),
        ("python_buildpack", "python"),
        ("heroku/python", "python"),
        ("nodejs_buildpack", "nodejs"),
        ("node", "nodejs"),
        ("staticfile_buildpack", "static"),
        ("Static", "static"),
        ("binary_buildpack", "binary"),
        ("ruby_buildpack", None),
        ("/srv/python", None),
    ],
)
def test_builtin_aliases(name: str, builtin: str | None) -> None:
    assert builtin_name(name) == builtin


@pytest.mark.parametrize(
    ("name", "is_git"),
    [
        ("https://github.com/cloudfoundry/python-buildpack.git", True),
        ("https://example.org/bp#v1.2.3", True),
        ("git@github.com:me/bp.git", True),
        ("file:///srv/bp", True),
        ("/srv/bp", False),
        ("python", False),
    ],
)
def test_git_urls(name: str, is_git: bool) -> None:
    assert is_git_url(name) is is_git


def test_unknown_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StagingError, match=r"unknown buildpack 'ruby_buildpack' \(built-ins: "):
        resolve("ruby_buildpack", into=tmp_path / "bp", env={}, output=Lines())


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StagingError, match=r"no such folder or \.zip"):
        resolve(str(tmp_path / "nowhere"), into=tmp_path / "bp", env={}, output=Lines())


def test_local_buildpack_is_copied_so_staging_cannot_change_it(tmp_path: Path) -> None:
    original = make_buildpack(tmp_path / "bps", "selfish", finalize='touch "$(dirname "$0")/x"')
    (original / "bin" / "finalize").chmod(0o644)  # lost its x bit, as after some unpacking
    stage(make_request(tmp_path, app=make_app(tmp_path), buildpacks=[original]), output=Lines())
    assert not (original / "x").exists()


def test_zipped_buildpack_with_a_top_folder(tmp_path: Path) -> None:
    source = make_buildpack(tmp_path / "bps", "zipped", finalize="true", release=RELEASE_WEB)
    archive = tmp_path / "zipped-v1.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in source.rglob("*"):
            zf.write(path, Path("zipped-main") / path.relative_to(source))

    result = stage(
        make_request(tmp_path, app=make_app(tmp_path), buildpacks=[archive]), output=Lines()
    )

    assert result.buildpacks == ["zipped-v1"]
    assert result.process_types == {"web": "./run-me"}


def test_git_buildpack_is_cloned_at_the_named_branch(tmp_path: Path) -> None:
    repo = make_buildpack(tmp_path / "repos", "my-buildpack", finalize='echo main > "$1/branch"')
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git[:3], "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "main"], check=True)
    subprocess.run([*git, "checkout", "-q", "-b", "stable"], check=True)
    (repo / "bin" / "finalize").write_text('#!/usr/bin/env bash\necho stable > "$1/branch"\n')
    subprocess.run([*git, "commit", "-q", "-am", "stable"], check=True)
    subprocess.run([*git, "checkout", "-q", "main"], check=True)
    out = Lines()

    url = f"file://{repo}#stable"
    result = stage(make_request(tmp_path, app=make_app(tmp_path), buildpacks=[url]), output=out)

    assert result.buildpacks == ["my-buildpack"]
    assert f"-----> Cloning buildpack {url}" in out.lines
    unpack_droplet(result.droplet, tmp_path / "out")
    assert (tmp_path / "out" / "app" / "branch").read_text() == "stable\n"


def test_failed_clone_is_a_staging_error(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/no-such-repo.git"
    request = make_request(tmp_path, app=make_app(tmp_path), buildpacks=[url])
    with pytest.raises(StagingError, match=r"could not clone buildpack .*no-such-repo.git"):
        stage(request, output=Lines())
