"""acme: certificates ordered by ACME (their state and retries), ACME accounts, and the
HTTP-01 challenges the router answers while an order is validated

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 08:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _resource_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("acme_directory", sa.String(length=512), nullable=True))
        batch.add_column(
            sa.Column("acme_email", sa.String(length=255), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="issued")
        )
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_attempt_at", sa.Float(), nullable=True))
        batch.add_column(sa.Column("renew_at", sa.Float(), nullable=True))
    op.create_table(
        "acme_accounts",
        *_resource_columns(),
        sa.Column("directory", sa.String(length=512), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("key_pem", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("guid"),
        sa.UniqueConstraint("directory", "email"),
    )
    op.create_table(
        "acme_challenges",
        *_resource_columns(),
        sa.Column("token", sa.String(length=255), nullable=False),
        sa.Column("key_authorization", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("guid"),
        sa.UniqueConstraint("token"),
    )


def downgrade() -> None:
    op.drop_table("acme_challenges")
    op.drop_table("acme_accounts")
    with op.batch_alter_table("certificates") as batch:
        for column in (
            "renew_at",
            "next_attempt_at",
            "attempts",
            "last_error",
            "state",
            "acme_email",
            "acme_directory",
        ):
            batch.drop_column(column)
