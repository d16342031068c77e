"""Route services from user-provided services (`-r URL`) bound to routes

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 19:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("service_instances") as batch:
        batch.add_column(
            sa.Column("route_service_url", sa.Text(), nullable=False, server_default="")
        )
    with op.batch_alter_table("routes") as batch:
        batch.add_column(sa.Column("route_service_guid", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routes") as batch:
        batch.drop_column("route_service_guid")
    with op.batch_alter_table("service_instances") as batch:
        batch.drop_column("route_service_url")
