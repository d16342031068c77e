"""certificates: TLS certificates the router serves for a domain or host (uploaded, or ordered)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 06:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("bundle", sa.Text(), nullable=False),
        sa.Column("not_after", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False, server_default="upload"),
        sa.PrimaryKeyConstraint("guid"),
        sa.UniqueConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("certificates")
