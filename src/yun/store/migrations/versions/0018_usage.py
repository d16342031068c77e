"""usage: usage events of apps, tasks and service instances, for `yun usage`

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 20:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_events",
        sa.Column("guid", sa.String(length=36), primary_key=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject_guid", sa.String(length=36), nullable=False),
        sa.Column("subject_name", sa.String(length=255), nullable=False),
        sa.Column("space_guid", sa.String(length=36), nullable=False),
        sa.Column("space_name", sa.String(length=255), nullable=False),
        sa.Column("org_guid", sa.String(length=36), nullable=False),
        sa.Column("org_name", sa.String(length=255), nullable=False),
        sa.Column("instances", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
    )
    op.create_index("ix_usage_events_subject", "usage_events", ["subject_guid", "created_at"])
    op.create_index("ix_usage_events_space_guid", "usage_events", ["space_guid"])
    op.create_index("ix_usage_events_org_guid", "usage_events", ["org_guid"])


def downgrade() -> None:
    op.drop_index("ix_usage_events_org_guid", table_name="usage_events")
    op.drop_index("ix_usage_events_space_guid", table_name="usage_events")
    op.drop_index("ix_usage_events_subject", table_name="usage_events")
    op.drop_table("usage_events")
