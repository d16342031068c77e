"""Alembic environment: runs migrations on the engine that `yun.store.session` hands over.

On SQLite, batch migrations rebuild a table (copy, drop, rename). With foreign keys enforced,
dropping the old table would delete every row that references it `ON DELETE CASCADE` (an app's
processes, revisions, routes…), so enforcement is off while migrations run and checked after.
"""

from alembic import context
from sqlalchemy import Engine, text

from yun.store.models import Base

engine: Engine = context.config.attributes["engine"]
sqlite = engine.dialect.name == "sqlite"
with engine.connect() as connection:
    if sqlite:  # must be set outside a transaction
        connection.execute(text("PRAGMA foreign_keys=OFF"))
        connection.commit()
    try:
        with connection.begin():
            context.configure(
                connection=connection, target_metadata=Base.metadata, render_as_batch=True
            )
            context.run_migrations()
        if sqlite:
            broken = connection.execute(text("PRAGMA foreign_key_check")).fetchall()
            if broken:
                raise RuntimeError(f"migrations left rows with broken references: {broken[:5]}")
    finally:
        if sqlite:
            connection.execute(text("PRAGMA foreign_keys=ON"))
            connection.commit()
