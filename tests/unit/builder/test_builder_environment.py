"""Buildpacks run on the host stack: the platform's virtualenv never leaks into staging."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tests.unit.builder.builder_fakes import Lines, make_app, make_buildpack, make_request

from yun.builder import STACKATO_PIP_VAR, stage, unpack_droplet
from yun.builder.environment import host_environment, package_sources, staging_environment

VENV = Path(sys.prefix)


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="the tests run inside a virtualenv")
def test_platform_virtualenv_is_dropped() -> None:
    base = {
        "PATH": f"{VENV}/bin:/usr/bin:/bin",
        "VIRTUAL_ENV": str(VENV),
        "PYTHONPATH": "/platform/src",
        "HOME": "/home/someone",
        "PIP_INDEX_URL": "https://mirror.example/simple",
    }
    env = host_environment(base)
    assert "VIRTUAL_ENV" not in env
    assert "PYTHONPATH" not in env
    assert env["PIP_INDEX_URL"] == "https://mirror.example/simple"
    assert str(VENV / "bin") not in env["PATH"].split(":")
    assert env["PATH"].split(":")[:2] == ["/usr/bin", "/bin"]


def test_interpreters_under_home_are_dropped_and_stack_dirs_kept() -> None:
    base = {"PATH": "/home/dev/.pyenv/shims:/home/dev/.nvm/bin:/opt/tools/bin", "HOME": "/home/dev"}
    path = host_environment(base)["PATH"].split(":")
    assert path[0] == "/opt/tools/bin"
    assert not any(p.startswith("/home/dev") for p in path)
    assert {"/usr/bin", "/bin", "/usr/sbin"} <= set(path)


def test_app_env_and_contract_variables_are_visible() -> None:
    env = staging_environment(
        {"GREETING": "hi", "PATH": f"/app/bin:{VENV}/bin:/usr/bin"},
        extra={STACKATO_PIP_VAR: "celery"},
        base={"PATH": "/usr/bin", "HOME": "/root"},
    )
    assert env["GREETING"] == "hi"
    assert env["CF_STACK"] == "host"
    assert env[STACKATO_PIP_VAR] == "celery"
    if sys.prefix != sys.base_prefix:
        assert str(VENV / "bin") not in env["PATH"].split(":")
    assert env["PATH"].startswith("/app/bin:")


def test_buildpacks_see_python3_of_the_host(tmp_path: Path) -> None:
    finalize = 'command -v python3 > "$1/python3"; echo "${VIRTUAL_ENV:-none}" > "$1/venv"'
    bp = make_buildpack(tmp_path / "bps", "probe", finalize=finalize)
    result = stage(make_request(tmp_path, app=make_app(tmp_path), buildpacks=[bp]), output=Lines())
    unpack_droplet(result.droplet, tmp_path / "out")
    python3 = (tmp_path / "out" / "app" / "python3").read_text().strip()
    assert not python3.startswith(str(VENV))
    assert not python3.startswith(str(Path.home()))
    assert (tmp_path / "out" / "app" / "venv").read_text() == "none\n"


def test_stackato_pip_requirements_reach_buildpacks(tmp_path: Path) -> None:
    bp = make_buildpack(
        tmp_path / "bps", "probe", finalize=f'echo "${STACKATO_PIP_VAR}" > "$1/pip"'
    )
    request = make_request(
        tmp_path, app=make_app(tmp_path), buildpacks=[bp], pip_requirements=["celery", "redis>=5"]
    )
    result = stage(request, output=Lines())
    unpack_droplet(result.droplet, tmp_path / "out")
    assert (tmp_path / "out" / "app" / "pip").read_text() == "celery\nredis>=5\n"


def test_package_sources_are_the_pip_config_and_the_local_paths_it_names(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    index = tmp_path / "my index"
    constraints = tmp_path / "constraints.txt"
    for folder in (wheels, index):
        folder.mkdir()
    constraints.write_text("flask<4\n")
    conf = tmp_path / "pip.conf"
    quoted = str(index).replace(" ", "%20")
    conf.write_text(
        "[global]\n"
        f"find-links = {wheels}\n"
        f"extra-index-url = https://example.invalid/simple file://{quoted}\n"
        f"constraint = {constraints}\n"
    )
    env = {"PIP_FIND_LINKS": f"{tmp_path / 'missing'} {wheels}"}
    found = package_sources(env, config_files=(conf, tmp_path / "absent.conf"))
    assert found == [conf, wheels, index, constraints]


def test_a_broken_pip_config_is_mounted_but_not_followed(tmp_path: Path) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text("not an ini file [\n")
    assert package_sources({}, config_files=(conf,)) == [conf]
