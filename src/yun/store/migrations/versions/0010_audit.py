"""audit: every event says from which client address and request it came, and how it ended

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 09:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(
            sa.Column("address", sa.String(length=64), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("request_id", sa.String(length=64), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("outcome", sa.String(length=16), nullable=False, server_default="")
        )
        batch.create_index("ix_events_created_at", ["created_at"])
        batch.create_index("ix_events_actor", ["actor"])


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_index("ix_events_actor")
        batch.drop_index("ix_events_created_at")
        batch.drop_column("outcome")
        batch.drop_column("request_id")
        batch.drop_column("address")
