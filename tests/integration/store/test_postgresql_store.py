"""The store on a real PostgreSQL server: migrations, bootstrap and the API's writes.

The test starts its own PostgreSQL cluster on a free loopback port (as the `postgres` user when
run as root, since PostgreSQL refuses to run as root) and stops it by pid afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.helpers import free_port

from yun.store.bootstrap import bootstrap
from yun.store.models import App, Org, Space, User
from yun.store.session import Store

pytestmark = pytest.mark.integration


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL server binaries are not installed (make test installs them)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root needs runuser to start PostgreSQL as postgres")
    base = Path(tempfile.mkdtemp(prefix="yun-pg-"))
    os.chmod(base, 0o777)
    data = base / "data"
    port = free_port()
    subprocess.run(
        _as_postgres([initdb, "-D", str(data), "-U", "yun", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    options = f"-k {base} -h 127.0.0.1 -p {port}"
    subprocess.run(
        _as_postgres(
            [pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(Path(initdb).parent / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "yun",
                    "yun",
                ]
            ),
            check=True,
            capture_output=True,
        )
        yield f"postgresql://yun@127.0.0.1:{port}/yun"
    finally:
        pid_file = data / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            subprocess.run(
                _as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
                capture_output=True,
                check=False,
            )
            try:
                os.kill(pid, 0)
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        shutil.rmtree(base, ignore_errors=True)


def test_migrate_and_bootstrap_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    store = Store(postgres_url)
    try:
        store.migrate()
        store.migrate()  # idempotent
        defaults = bootstrap(store, home=tmp_path, domain="apps.localhost", admin_password="pw")
        again = bootstrap(store, home=tmp_path, domain="apps.localhost", admin_password="pw")
        assert again == defaults
        with store.session() as session:
            assert session.scalar(select(User.name)) == "admin"
            assert session.scalar(select(Org.name)) == "main"
            space = session.get(Space, defaults.space_guid)
            assert space is not None and space.name == "dev"
            session.add(App(name="demo", space_guid=space.guid, env={"A": "1"}, spec={}))
        with store.session() as session:
            app = session.scalar(select(App).where(App.name == "demo"))
            assert app is not None and app.env == {"A": "1"}
    finally:
        store.close()
