"""cluster reach: whether each cluster answers, since when, and why not

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 00:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.add_column(sa.Column("reachable", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("reach_reason", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("reach_since", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("reach_since")
        batch.drop_column("reach_reason")
        batch.drop_column("reachable")
