"""webhooks: outgoing webhooks of spaces and their deliveries; apps' incoming build triggers

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 19:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
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
        "webhooks",
        *_common(),
        _parent("space_guid", "spaces"),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
    )
    op.create_table(
        "webhook_deliveries",
        *_common(),
        _parent("webhook_guid", "webhooks"),
        sa.Column("event_guid", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.JSON(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("webhook_guid", "event_guid"),
    )
    op.create_index("ix_webhook_deliveries_webhook_guid", "webhook_deliveries", ["webhook_guid"])
    op.create_index("ix_webhook_deliveries_state", "webhook_deliveries", ["state"])
    op.create_table(
        "build_triggers",
        *_common(),
        _parent("app_guid", "apps"),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("repo_url", sa.Text(), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("last_outcome", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("build_triggers")
    op.drop_index("ix_webhook_deliveries_state", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_webhook_guid", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
