"""domains: private domains belong to an org; internal domains are for app-to-app names

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 06:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("domains") as batch:
        batch.add_column(sa.Column("org_guid", sa.String(length=36), nullable=True))
        batch.add_column(
            sa.Column("internal", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_foreign_key(
            "fk_domains_org_guid_orgs", "orgs", ["org_guid"], ["guid"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("domains") as batch:
        batch.drop_constraint("fk_domains_org_guid_orgs", type_="foreignkey")
        batch.drop_column("internal")
        batch.drop_column("org_guid")
