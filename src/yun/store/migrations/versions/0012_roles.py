"""roles: users' org and space roles (Cloud Foundry's), each a row

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 11:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "role_assignments",
        sa.Column("guid", sa.String(length=36), primary_key=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column(
            "user_guid",
            sa.String(length=36),
            sa.ForeignKey("users.guid", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "org_guid",
            sa.String(length=36),
            sa.ForeignKey("orgs.guid", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "space_guid",
            sa.String(length=36),
            sa.ForeignKey("spaces.guid", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("role", sa.String(length=32), nullable=False),
    )
    op.create_index("ix_role_assignments_user_guid", "role_assignments", ["user_guid"])


def downgrade() -> None:
    op.drop_index("ix_role_assignments_user_guid", "role_assignments")
    op.drop_table("role_assignments")
