"""Secrets at rest on a real SQLite store: environment variables, credentials, passwords and
private keys are nowhere in the database files in clear, read back as written, survive a key
rotation (after which the old key opens nothing), and values stored before sealing get sealed
by the migration."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text

from yun.store.events import REDACTED, record
from yun.store.models import App, Certificate, Event, Org, ServiceBroker, Space
from yun.store.sealing import SealingError
from yun.store.session import Store, alembic_config

SECRET = "s3cr3t-value-that-must-not-leak"


def _disk(db: Path) -> bytes:
    """Every byte SQLite keeps for `db`: the file and its write-ahead log."""
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def _space(store: Store) -> str:
    with store.session() as session:
        org = Org(name="o")
        session.add(org)
        session.flush()
        space = Space(name="s", org_guid=org.guid)
        session.add(space)
        session.flush()
        return space.guid


def test_secrets_are_sealed_on_disk_and_read_back_as_written(tmp_path: Path) -> None:
    db = tmp_path / "yun.db"
    store = Store(f"sqlite:///{db}")
    store.migrate()
    space = _space(store)
    with store.session() as session:
        session.add(App(name="shop", space_guid=space, env={"API_TOKEN": SECRET}, spec={}))
        session.add(ServiceBroker(name="b", url="http://x", username="u", password=SECRET))
        session.add(Certificate(name="x.test", names=["x.test"], bundle=SECRET, not_after=0.0))
        record(session, type="audit.app.push", app=None, data={"manifest": {"env": {"K": SECRET}}})
    assert SECRET.encode() not in _disk(db)
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    with store.session() as session:
        assert session.scalar(select(App.env)) == {"API_TOKEN": SECRET}
        assert session.scalar(select(ServiceBroker.password)) == SECRET
        assert session.scalar(select(Certificate.bundle)) == SECRET
        event = session.scalar(select(Event))
        assert event is not None and event.data == {"manifest": {"env": {"K": REDACTED}}}
        raw = session.execute(text("SELECT env FROM apps")).scalar_one()
        assert raw.startswith("sealed:")
    store.close()


def test_a_rotated_key_reseals_everything_and_the_old_one_opens_nothing(tmp_path: Path) -> None:
    db = tmp_path / "yun.db"
    store = Store(f"sqlite:///{db}")
    store.migrate()
    space = _space(store)
    with store.session() as session:
        session.add(App(name="shop", space_guid=space, env={"API_TOKEN": SECRET}, spec={}))
    old_key = tmp_path / "old.key"
    shutil.copy(tmp_path / "secret.key", old_key)
    with store.session() as session:
        before = session.execute(text("SELECT env FROM apps")).scalar_one()
    assert store.rotate_key() >= 2  # env and spec at least
    assert (tmp_path / "secret.key").read_text() != old_key.read_text()
    assert len((tmp_path / "secret.key").read_text().split()) == 1
    with store.session() as session:
        assert session.execute(text("SELECT env FROM apps")).scalar_one() != before
        assert session.scalar(select(App.env)) == {"API_TOKEN": SECRET}
    stale = Store(f"sqlite:///{db}", key_file=old_key)
    with pytest.raises(SealingError, match="opens with no key"), stale.session() as session:
        session.scalar(select(App.env))
    stale.close()
    store.close()


def test_values_stored_before_sealing_are_sealed_by_the_migration(tmp_path: Path) -> None:
    db = tmp_path / "yun.db"
    store = Store(f"sqlite:///{db}")
    command.upgrade(alembic_config(store.engine), "0010")
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO orgs (guid, created_at, updated_at, labels, name)"
                " VALUES ('o', 0, 0, '{}', 'o')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO spaces (guid, created_at, updated_at, labels, name,"
                " org_guid) VALUES ('s', 0, 0, '{}', 's', 'o')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO apps (guid, created_at, updated_at, labels, name, space_guid, state,"
                " env, spec, autoscale)"
                " VALUES ('a', 0, 0, '{}', 'shop', 's', 'STOPPED', :env, '{}', '{}')"
            ),
            {"env": json.dumps({"API_TOKEN": SECRET})},
        )
    store.migrate()
    assert SECRET.encode() not in _disk(db)
    with store.session() as session:
        assert session.scalar(select(App.env)) == {"API_TOKEN": SECRET}
    store.close()


def test_an_upgrade_keeps_the_rows_that_reference_rebuilt_tables(tmp_path: Path) -> None:
    """SQLite rebuilds a table to change a column's type; the rows of other tables that
    reference it (ON DELETE CASCADE) must survive that."""
    db = tmp_path / "yun.db"
    store = Store(f"sqlite:///{db}")
    command.upgrade(alembic_config(store.engine), "0010")
    with store.engine.begin() as connection:
        for statement in (
            "INSERT INTO orgs (guid, created_at, updated_at, labels, name)"
            " VALUES ('o', 0, 0, '{}', 'o')",
            "INSERT INTO spaces (guid, created_at, updated_at, labels, name, org_guid)"
            " VALUES ('s', 0, 0, '{}', 's', 'o')",
            "INSERT INTO apps (guid, created_at, updated_at, labels, name, space_guid, state,"
            " env, spec, autoscale) VALUES ('a', 0, 0, '{}', 'shop', 's', 'STARTED', '{}',"
            " '{}', '{}')",
            "INSERT INTO revisions (guid, created_at, updated_at, labels, app_guid, version,"
            " droplet_guid, env, commands, processes, services, description, created_by)"
            " VALUES ('r', 0, 0, '{}', 'a', 1, 'd', '{}', '{}', '{}', '{}', '', '')",
        ):
            connection.execute(text(statement))
    store.migrate()
    with store.session() as session:
        assert session.execute(text("SELECT count(*) FROM revisions")).scalar_one() == 1
        assert session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    store.close()
