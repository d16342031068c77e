"""droplet stacks: the stack a droplet was staged on ("host": the host's own userland)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 02:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("droplets") as batch:
        batch.add_column(
            sa.Column("stack", sa.String(length=64), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("droplets") as batch:
        batch.drop_column("stack")
