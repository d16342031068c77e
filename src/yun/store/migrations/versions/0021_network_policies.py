"""network policies (which app's instances may connect to which other app's, on which ports)
and application security groups (where running instances may connect beyond the bridge),
with Cloud Foundry's two default running groups, public_networks and dns

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 12:20:00
"""

import time
import uuid

import sqlalchemy as sa
from alembic import op

from yun.egress import DEFAULT_GROUPS

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def _app(name: str) -> sa.Column[object]:
    return sa.Column(
        name, sa.String(length=36), sa.ForeignKey("apps.guid", ondelete="CASCADE"), nullable=False
    )


def _common() -> list[sa.Column[object]]:
    return [
        sa.Column("guid", sa.String(length=36), primary_key=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
    ]


def upgrade() -> None:
    groups = op.create_table(
        "security_groups",
        *_common(),
        sa.Column("name", sa.String(length=255), nullable=False, unique=True),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("running_default", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
    )
    op.create_table(
        "security_group_spaces",
        *_common(),
        sa.Column(
            "security_group_guid",
            sa.String(length=36),
            sa.ForeignKey("security_groups.guid", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "space_guid",
            sa.String(length=36),
            sa.ForeignKey("spaces.guid", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.UniqueConstraint("security_group_guid", "space_guid"),
    )
    op.create_index(
        "ix_security_group_spaces_security_group_guid",
        "security_group_spaces",
        ["security_group_guid"],
    )
    now = time.time()
    op.bulk_insert(
        groups,
        [
            {
                "guid": str(uuid.uuid4()),
                "created_at": now,
                "updated_at": now,
                "labels": {},
                "name": name,
                "rules": rules,
                "running_default": True,
                "created_by": "yun",
            }
            for name, rules in DEFAULT_GROUPS.items()
        ],
    )
    op.create_table(
        "network_policies",
        *_common(),
        _app("source_app_guid"),
        _app("destination_app_guid"),
        sa.Column("protocol", sa.String(length=8), nullable=False),
        sa.Column("start_port", sa.Integer(), nullable=False),
        sa.Column("end_port", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.UniqueConstraint(
            "source_app_guid", "destination_app_guid", "protocol", "start_port", "end_port"
        ),
    )
    op.create_index("ix_network_policies_source_app_guid", "network_policies", ["source_app_guid"])
    op.create_index(
        "ix_network_policies_destination_app_guid", "network_policies", ["destination_app_guid"]
    )


def downgrade() -> None:
    op.drop_table("network_policies")
    op.drop_table("security_group_spaces")
    op.drop_table("security_groups")
