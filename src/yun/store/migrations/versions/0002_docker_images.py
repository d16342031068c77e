"""docker images: packages of kind docker, droplets that are images

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 06:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("packages") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="bits")
        )
        batch.add_column(sa.Column("image", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("droplets") as batch:
        batch.add_column(sa.Column("image", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("droplets") as batch:
        batch.drop_column("image")
    with op.batch_alter_table("packages") as batch:
        batch.drop_column("image")
        batch.drop_column("kind")
