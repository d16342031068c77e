"""CLI errors are one clear line and a nonzero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

YUN = str(Path(sys.executable).parent / "yun")


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("YUN_")}
    base.update({"YUN_HOME": str(tmp_path / "home"), "YUN_CONFIG_DIR": str(tmp_path / "cfg")})
    base.update(env)
    return subprocess.run(
        [YUN, *args], env=base, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


def test_server_without_haproxy_says_what_to_install(tmp_path: Path) -> None:
    result = run(["server"], tmp_path, YUN_HAPROXY=str(tmp_path / "no-haproxy"))
    assert result.returncode == 1
    assert "apt-get install haproxy" in result.stderr
    assert "Traceback" not in result.stderr


def test_commands_before_login_point_to_login(tmp_path: Path) -> None:
    result = run(["apps"], tmp_path)
    assert result.returncode == 1
    assert "yun login" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_api_is_one_line(tmp_path: Path) -> None:
    result = run(["login", "-a", "http://127.0.0.1:9", "-p", "x"], tmp_path)
    assert result.returncode == 1
    assert "cannot reach the Yun API" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_size_flag_names_the_flag(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text('{"api": "http://127.0.0.1:9", "token": "t"}')
    result = run(["scale", "demo", "-m", "12Q"], tmp_path)
    assert result.returncode == 1
    assert "--memory" in result.stderr and "12Q" in result.stderr


def test_help_lists_the_verbs(tmp_path: Path) -> None:
    out = run(["--help"], tmp_path).stdout
    for verb in ("push", "apps", "logs", "events", "scale", "set-env", "server", "restage"):
        assert verb in out


def test_docker_image_with_a_path_is_refused_naming_both(tmp_path: Path) -> None:
    result = run(["push", "web", "-o", "nginx:1", "-p", str(tmp_path)], tmp_path)
    assert result.returncode == 1
    assert "--docker-image" in result.stderr and "--path" in result.stderr
    assert "Traceback" not in result.stderr


def test_docker_username_needs_an_image(tmp_path: Path) -> None:
    result = run(["push", "web", "--docker-username", "me"], tmp_path)
    assert result.returncode == 1
    assert "--docker-username" in result.stderr


def test_delete_without_a_terminal_asks_for_force(tmp_path: Path) -> None:
    result = run(["delete", "demo"], tmp_path)
    assert result.returncode == 1
    assert "-f" in result.stderr
    assert "Abort" not in result.stderr


def test_an_option_out_of_range_names_the_option(tmp_path: Path) -> None:
    for args, option in (
        (["scale", "web", "-i", "-1"], "'-i'"),
        (["rollback", "web", "--version", "0"], "'--version'"),
        (["push", "web", "--max-in-flight", "0"], "'--max-in-flight'"),
    ):
        result = run(args, tmp_path)
        assert result.returncode == 2, args
        assert f"Invalid value for {option}" in result.stderr
        assert "unexpected" not in result.stderr and "Traceback" not in result.stderr


def test_release_flags_that_do_not_fit_are_one_line(tmp_path: Path) -> None:
    for args, said in (
        (["push", "web", "--strategy", "fast"], "--strategy: 'fast' is not one of"),
        (["push", "web", "--instance-steps", "10"], "--instance-steps: only with --strategy"),
        (["push", "web", "--strategy", "canary", "--instance-steps", "50,10"], "must rise"),
        (["update-route", "a.apps.localhost", "--option", "speed=9"], "--option 'speed=9'"),
    ):
        result = run(args, tmp_path)
        assert result.returncode == 1, args
        assert said in result.stderr
        assert "Traceback" not in result.stderr


def test_a_command_line_mistake_is_one_line_naming_it(tmp_path: Path) -> None:
    for args, said in (
        (["scale"], "Missing argument 'NAME'"),
        (["scale", "web", "--bogus"], "No such option: --bogus"),
        (["push", "web", "-t", "soon"], "Invalid value for '-t' / '--timeout'"),
        (["bind-service", "web"], "Missing argument 'SERVICE'"),
    ):
        result = run(args, tmp_path)
        assert result.returncode == 2, args
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("error: ") and said in line, line
        assert f"'yun {args[0]} --help'" in line
