"""clusters: Kubernetes clusters, and the one a space is placed on

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 21:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("guid", sa.String(length=36), primary_key=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False, unique=True),
        sa.Column("kubeconfig", sa.Text(), nullable=False),
        sa.Column("context", sa.String(length=255), nullable=False),
        sa.Column("server", sa.String(length=512), nullable=False),
        sa.Column("image_registry", sa.String(length=512), nullable=False),
        sa.Column("ingress_class", sa.String(length=253), nullable=False),
        sa.Column("gateway", sa.String(length=253), nullable=False),
    )
    with op.batch_alter_table("spaces") as batch:
        batch.add_column(sa.Column("cluster_guid", sa.String(length=36), nullable=True))
        batch.create_foreign_key(
            "fk_spaces_cluster_guid", "clusters", ["cluster_guid"], ["guid"], ondelete="RESTRICT"
        )


def downgrade() -> None:
    with op.batch_alter_table("spaces") as batch:
        batch.drop_constraint("fk_spaces_cluster_guid", type_="foreignkey")
        batch.drop_column("cluster_guid")
    op.drop_table("clusters")
