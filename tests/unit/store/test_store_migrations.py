"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from yun.store.models import Base
from yun.store.session import Store, alembic_config, newest_revision


def test_migrated_database_matches_the_models(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'yun.db'}")
    store.migrate()
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    store.close()
    assert differences == []


def test_each_revision_is_numbered_as_its_file_and_follows_the_one_before() -> None:
    """What lets a start skip alembic when the database is at the newest revision."""
    script = ScriptDirectory.from_config(alembic_config(create_engine("sqlite://")))
    revisions = {rev.revision: rev for rev in script.walk_revisions()}
    for revision in revisions.values():
        assert Path(revision.path).name.startswith(f"{revision.revision}_")
    assert script.get_heads() == [newest_revision()]


def test_a_database_at_the_newest_revision_is_not_migrated_again(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'yun.db'}")
    store.migrate()
    store.migrate()  # the fast path: nothing to do
    with store.engine.connect() as connection:
        current = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    store.close()
    assert current == [(newest_revision(),)]


def test_an_older_database_is_migrated_to_the_newest(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'yun.db'}")
    command.upgrade(alembic_config(store.engine), "0010")
    store.migrate()
    with store.engine.connect() as connection:
        current = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    store.close()
    assert current == [(newest_revision(),)]
