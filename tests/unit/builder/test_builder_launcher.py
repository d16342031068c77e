"""launcher.sh: the first process of an instance, run against a hand-made unpacked droplet."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from yun.builder import launcher_path


def make_droplet_dir(root: Path) -> tuple[Path, Path]:
    """X/app and X/deps with profile scripts that record the order they were sourced in."""
    app, deps = root / "app", root / "deps"
    for index in (0, 1, 2):
        profile = deps / str(index) / "profile.d"
        profile.mkdir(parents=True)
        (profile / "order.sh").write_text(f'ORDER="$ORDER deps{index}"\n')
    (app / ".profile.d").mkdir(parents=True)
    (app / ".profile.d" / "a.sh").write_text('ORDER="$ORDER app"\nexport FROM_APP=yes\n')
    (app / ".profile.d" / "not-a-script.txt").write_text("exit 99\n")
    (app / ".profile").write_text('ORDER="$ORDER profile"\nexport ORDER\n')
    return app, deps


def launch(
    command: str, *, app: Path, deps: Path, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(app), "DEPS_DIR": str(deps), "PORT": "8123"}
    env.update(extra or {})
    return subprocess.run(
        ["bash", str(launcher_path()), command],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_sources_deps_then_app_profile_d_then_profile(tmp_path: Path) -> None:
    app, deps = make_droplet_dir(tmp_path)
    done = launch('echo "$ORDER|$FROM_APP|$PWD|$PORT|$DEPS_DIR"', app=app, deps=deps)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f" deps0 deps1 deps2 app profile|yes|{app}|8123|{deps}\n"


def test_exit_status_of_the_command_is_the_launchers(tmp_path: Path) -> None:
    app, deps = make_droplet_dir(tmp_path)
    assert launch("exit 7", app=app, deps=deps).returncode == 7


def test_exit_file_gets_the_status(tmp_path: Path) -> None:
    app, deps = make_droplet_dir(tmp_path)
    exit_file = tmp_path / "exit-status"
    done = launch("echo bye; exit 3", app=app, deps=deps, extra={"YUN_EXIT_FILE": str(exit_file)})
    assert done.returncode == 3
    assert done.stdout == "bye\n"
    assert exit_file.read_text() == "3\n"


def test_sigterm_to_the_launcher_alone_reaches_the_command(tmp_path: Path) -> None:
    app, deps = make_droplet_dir(tmp_path)
    exit_file = tmp_path / "exit-status"
    ready = tmp_path / "ready"
    command = f"trap 'echo got-term; exit 42' TERM; touch {ready}; while :; do sleep 0.1; done"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(app), "DEPS_DIR": str(deps)}
    env["YUN_EXIT_FILE"] = str(exit_file)
    proc = subprocess.Popen(
        ["bash", str(launcher_path()), command],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 42
    assert "got-term" in out
    assert exit_file.read_text() == "42\n"


def test_without_exit_file_the_command_replaces_the_launcher(tmp_path: Path) -> None:
    app, deps = make_droplet_dir(tmp_path)
    proc = subprocess.Popen(
        ["bash", str(launcher_path()), "echo $$"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(app), "DEPS_DIR": str(deps)},
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = proc.communicate(timeout=10)
    # exec: the command keeps the launcher's pid, so signals reach it directly.
    assert int(out) == proc.pid


def test_missing_command_is_a_usage_error(tmp_path: Path) -> None:
    app, deps = make_droplet_dir(tmp_path)
    done = subprocess.run(
        ["bash", str(launcher_path())],
        env={"HOME": str(app), "DEPS_DIR": str(deps)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 64
    assert "usage" in done.stderr


def test_deps_dir_defaults_to_the_app_dirs_sibling(tmp_path: Path) -> None:
    app, deps = make_droplet_dir(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(app)}
    done = subprocess.run(
        ["bash", str(launcher_path()), 'echo "$DEPS_DIR $ORDER"'],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout == f"{deps}  deps0 deps1 deps2 app profile\n"
