"""pipelines: an org's ordered spaces, and promotions of apps' droplets between spaces

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def _common() -> list[sa.Column[object]]:
    return [
        sa.Column("guid", sa.String(length=36), primary_key=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
    ]


def _parent(name: str, table: str) -> sa.Column[object]:
    return sa.Column(
        name,
        sa.String(length=36),
        sa.ForeignKey(f"{table}.guid", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "pipelines",
        *_common(),
        _parent("org_guid", "orgs"),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.UniqueConstraint("org_guid", "name"),
    )
    op.create_table(
        "promotions",
        *_common(),
        _parent("app_guid", "apps"),
        sa.Column("revision_guid", sa.String(length=36), nullable=False),
        _parent("to_space_guid", "spaces"),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("output", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("target_revision_guid", sa.String(length=36), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
    )
    op.create_index("ix_promotions_app_guid", "promotions", ["app_guid"])
    op.create_index("ix_promotions_state", "promotions", ["state"])


def downgrade() -> None:
    op.drop_index("ix_promotions_state", table_name="promotions")
    op.drop_index("ix_promotions_app_guid", table_name="promotions")
    op.drop_table("promotions")
    op.drop_table("pipelines")
