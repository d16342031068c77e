"""sessions: access and refresh tokens of one login share a session, revoked together

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 09:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="access")
        )
        batch.add_column(
            sa.Column("session_guid", sa.String(length=36), nullable=False, server_default="")
        )
        batch.create_index("ix_tokens_session_guid", ["session_guid"])


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.drop_index("ix_tokens_session_guid")
        batch.drop_column("session_guid")
        batch.drop_column("kind")
