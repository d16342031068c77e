"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from yun.store.models import Base
from yun.store.session import Store


def test_migrated_database_matches_the_models(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'yun.db'}")
    store.migrate()
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    store.close()
    assert differences == []
