"""deployments: revisions pin process settings, instances carry a revision version, apps their
current droplet and autoscaling policy, builds how they are released, routes their traffic
policy; deployments

Instances are the agent's reports, rebuilt from its next pass (it reports every adopted slot
on start), so the table is recreated with its new key instead of altered in place.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:00:00
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _resource_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
    ]


def _instances(*, versioned: bool) -> None:
    columns: list[sa.Column[Any]] = [
        sa.Column("process_guid", sa.String(length=36), nullable=False),
        sa.Column("app_guid", sa.String(length=36), nullable=False),
        *([sa.Column("version", sa.Integer(), nullable=False)] if versioned else []),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("instance_guid", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("since", sa.Float(), nullable=False),
        sa.Column("crash_count", sa.Integer(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("driver", sa.String(length=16), nullable=False),
        sa.Column("routed", sa.Boolean(), nullable=False),
        *([sa.Column("draining_since", sa.Float(), nullable=True)] if versioned else []),
        *_resource_columns(),
    ]
    key = ("process_guid", "version", "index") if versioned else ("process_guid", "index")
    op.create_table(
        "instances",
        *columns,
        sa.ForeignKeyConstraint(["process_guid"], ["processes.guid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("guid"),
        sa.UniqueConstraint(*key),
    )


def upgrade() -> None:
    op.drop_table("instances")
    _instances(versioned=True)
    with op.batch_alter_table("revisions") as batch:
        batch.add_column(sa.Column("processes", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("droplet_guid", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("autoscale", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("builds") as batch:
        batch.add_column(sa.Column("release", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("routes") as batch:
        batch.add_column(sa.Column("options", sa.JSON(), nullable=False, server_default="{}"))
    op.execute(
        "UPDATE apps SET droplet_guid = (SELECT droplet_guid FROM revisions"
        " WHERE revisions.guid = apps.revision_guid)"
    )
    op.create_table(
        "deployments",
        sa.Column("app_guid", sa.String(length=36), nullable=False),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("from_revision_guid", sa.String(length=36), nullable=True),
        sa.Column("revision_guid", sa.String(length=36), nullable=False),
        sa.Column("max_in_flight", sa.Integer(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=True),
        sa.Column("keep_seconds", sa.Float(), nullable=False),
        sa.Column("keep_until", sa.Float(), nullable=True),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        *_resource_columns(),
        sa.ForeignKeyConstraint(["app_guid"], ["apps.guid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("guid"),
    )
    op.create_index("ix_deployments_app_guid", "deployments", ["app_guid"])


def downgrade() -> None:
    op.drop_index("ix_deployments_app_guid", table_name="deployments")
    op.drop_table("deployments")
    with op.batch_alter_table("routes") as batch:
        batch.drop_column("options")
    with op.batch_alter_table("builds") as batch:
        batch.drop_column("release")
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("autoscale")
        batch.drop_column("droplet_guid")
    with op.batch_alter_table("revisions") as batch:
        batch.drop_column("processes")
    op.drop_table("instances")
    _instances(versioned=False)
