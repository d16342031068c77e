"""live configuration: versioned values of apps and spaces, delivered without a restart

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 12:25:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def _owner(name: str, table: str) -> sa.Column[object]:
    return sa.Column(
        name,
        sa.String(length=36),
        sa.ForeignKey(f"{table}.guid", ondelete="CASCADE"),
        nullable=True,
    )


def upgrade() -> None:
    op.create_table(
        "config_versions",
        sa.Column("guid", sa.String(length=36), primary_key=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("scope_guid", sa.String(length=36), nullable=False),
        _owner("app_guid", "apps"),
        _owner("space_guid", "spaces"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("values", sa.Text(), nullable=False),
        sa.Column("secret_keys", sa.JSON(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("keys", sa.JSON(), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.UniqueConstraint("scope_guid", "version"),
    )
    op.create_index("ix_config_versions_scope_guid", "config_versions", ["scope_guid"])


def downgrade() -> None:
    op.drop_table("config_versions")
