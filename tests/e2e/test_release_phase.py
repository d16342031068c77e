"""Heroku's release phase: a Procfile `release:` command runs once per new release (a droplet, a
new environment, a rollback), before the new revision takes traffic; its output is part of the
push or the restart; a failing one keeps the running revision serving and fails the command."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.conftest import Platform

pytestmark = pytest.mark.e2e

APP = """\
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

with open(os.environ["MIGRATIONS"]) as f:  # what the release phase did before we started
    MIGRATED = f.read()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"version {os.environ['VERSION']}; migrated: {MIGRATED}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""

MIGRATE = """\
import os, sys
print(f"migrating the database for revision {os.environ['YUN_REVISION']}", flush=True)
if os.environ.get("BREAK_MIGRATION"):
    print("error: relation users already exists", file=sys.stderr, flush=True)
    sys.exit(3)
with open(os.environ["MIGRATIONS"], "a") as f:
    f.write(f"r{os.environ['YUN_REVISION']} ")
"""


def _app(
    folder: Path,
    *,
    version: str,
    migrations: Path,
    broken: bool = False,
    name: str = "release-phase",
) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "app.py").write_text(APP)
    (folder / "migrate.py").write_text(MIGRATE)
    (folder / "Procfile").write_text("web: python app.py\nrelease: python migrate.py\n")
    env = f"    VERSION: '{version}'\n    MIGRATIONS: {migrations}\n"
    env += f"    BREAK_MIGRATION: '{'1' if broken else ''}'\n"  # manifests never unset a variable
    (folder / "manifest.yml").write_text(
        f"applications:\n- name: {name}\n  memory: 128M\n  env:\n{env}"
    )
    return folder


def test_the_release_command_runs_before_traffic_and_a_failing_one_keeps_the_old_revision(
    platform: Platform, tmp_path: Path
) -> None:
    migrations = tmp_path / "migrations.txt"
    migrations.write_text("")
    folder = _app(tmp_path / "app", version="1", migrations=migrations)

    first = platform.cli("push", "-p", str(folder))

    assert "Running release command: python migrate.py" in first.stdout
    assert "migrating the database for revision 1" in first.stdout
    assert platform.wait_for("release-phase", "version 1").text == "version 1; migrated: r1 "
    shown = platform.cli("app", "release-phase").stdout
    assert "release" not in [line.split()[0] for line in shown.splitlines() if line.strip()]

    _app(folder, version="2", migrations=migrations, broken=True)
    failed = platform.cli("push", "-p", str(folder), check=False)

    assert failed.returncode != 0
    said = failed.stdout + failed.stderr
    assert "error: relation users already exists" in said
    assert "release command `python migrate.py` failed: exited with 3" in said
    assert "Traceback" not in said
    assert platform.get("release-phase").text == "version 1; migrated: r1 "
    revisions = platform.cli("revisions", "release-phase").stdout
    assert "release phase failed" in revisions

    _app(folder, version="3", migrations=migrations)
    platform.cli("push", "-p", str(folder))
    assert platform.wait_for("release-phase", "version 3").text == "version 3; migrated: r1 r3 "


def test_a_new_environment_and_a_rollback_run_the_release_command_a_restart_alone_does_not(
    platform: Platform, tmp_path: Path
) -> None:
    migrations = tmp_path / "migrations.txt"
    migrations.write_text("")
    folder = _app(tmp_path / "app", version="1", migrations=migrations, name="migrating")
    platform.cli("push", "-p", str(folder))
    assert platform.wait_for("migrating", "r1 ").text == "version 1; migrated: r1 "

    platform.cli("set-env", "migrating", "DATABASE_URL", "postgres://db.internal/new")
    restarted = platform.cli("restart", "migrating")
    assert "running its release command: python migrate.py" in restarted.stdout
    assert "release: migrating the database for revision 2" in restarted.stdout
    assert "deployed: revision 2 serves" in restarted.stdout
    assert platform.get("migrating").text == "version 1; migrated: r1 r2 "
    logged = platform.cli("logs", "migrating", "--recent").stdout
    assert "migrating the database for revision 2" in logged

    platform.cli("restart", "migrating")  # nothing changed: no release
    assert migrations.read_text() == "r1 r2 "

    platform.cli("set-env", "migrating", "BREAK_MIGRATION", "1")
    failed = platform.cli("restart", "migrating", check=False)
    assert failed.returncode != 0
    said = failed.stdout + failed.stderr
    assert "release: error: relation users already exists" in said
    assert "release command `python migrate.py` failed: exited with 3" in said
    assert "revision 3 serves" in said  # revision 4 never took traffic
    assert "Traceback" not in said
    assert platform.get("migrating").text == "version 1; migrated: r1 r2 "

    # revision 1: no DATABASE_URL, no BREAK_MIGRATION (back to 2 would be what serves: no run)
    rolled = platform.cli("rollback", "migrating", "--version", "1")
    assert "release: migrating the database for revision 5" in rolled.stdout
    assert platform.wait_for("migrating", "r5 ").text == "version 1; migrated: r1 r2 r5 "
    platform.cli("delete", "migrating", "-f")
