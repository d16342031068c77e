"""The container runtime a space's apps run under (runc, gvisor)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 18:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("spaces") as batch:
        batch.add_column(sa.Column("runtime", sa.String(16), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("spaces") as batch:
        batch.drop_column("runtime")
