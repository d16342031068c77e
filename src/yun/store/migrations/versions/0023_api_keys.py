"""API keys of routes and their plans (the gateway's rate and quota per key)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 15:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def _resource() -> list[sa.Column[object]]:
    return [
        sa.Column("guid", sa.String(length=36), primary_key=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column(
            "route_guid",
            sa.String(length=36),
            sa.ForeignKey("routes.guid", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "api_plans",
        *_resource(),
        sa.Column("rate_limit", sa.Integer(), nullable=False),
        sa.Column("rate_window", sa.Integer(), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=False),
        sa.Column("quota_window", sa.Integer(), nullable=False),
        sa.UniqueConstraint("route_guid", "name"),
    )
    op.create_table(
        "api_keys",
        *_resource(),
        sa.Column(
            "plan_guid",
            sa.String(length=36),
            sa.ForeignKey("api_plans.guid", ondelete="RESTRICT"),
            nullable=True,
        ),
        sa.Column("digest", sa.String(length=64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.UniqueConstraint("route_guid", "name"),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_table("api_plans")
