"""Alembic environment: runs migrations on the engine that `yun.store.session` hands over."""

from alembic import context
from sqlalchemy import Engine

from yun.store.models import Base

engine: Engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    context.run_migrations()
