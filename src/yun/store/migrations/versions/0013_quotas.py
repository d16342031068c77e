"""quotas: named limits, held by orgs and spaces

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

LIMITS = ("memory_mb", "instance_memory_mb", "instances", "routes", "services", "tcp_ports")


def upgrade() -> None:
    op.create_table(
        "quotas",
        sa.Column("guid", sa.String(length=36), primary_key=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False, unique=True),
        *(sa.Column(limit, sa.Integer(), nullable=True) for limit in LIMITS),
    )
    for table in ("orgs", "spaces"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("quota_guid", sa.String(length=36), nullable=True))
            batch.create_foreign_key(
                f"fk_{table}_quota_guid", "quotas", ["quota_guid"], ["guid"], ondelete="SET NULL"
            )


def downgrade() -> None:
    for table in ("spaces", "orgs"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_quota_guid", type_="foreignkey")
            batch.drop_column("quota_guid")
    op.drop_table("quotas")
