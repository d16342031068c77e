"""services: brokers and their catalogs, service instances, bindings and keys, backups; TCP
routes; instances' extra ports; the service environment a revision was made with

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 00:30:00
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _resource(name: str, *columns: Any) -> None:
    op.create_table(
        name,
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint("guid"),
    )


def _json(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.JSON(), nullable=False)


def _text(name: str, length: int | None = None) -> sa.Column[Any]:
    kind: Any = sa.String(length=length) if length else sa.Text()
    return sa.Column(name, kind, nullable=False)


def _fk(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{table}.guid"], ondelete="CASCADE")


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("ports", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("revisions") as batch:
        batch.add_column(sa.Column("services", sa.JSON(), nullable=False, server_default="{}"))
    _resource(
        "tcp_routes",
        sa.Column("port", sa.Integer(), nullable=False),
        _text("name", 64),
        _text("app_guid", 36),
        _text("process_type", 64),
        _text("space_guid", 36),
        _fk("app_guid", "apps"),
        _fk("space_guid", "spaces"),
        sa.UniqueConstraint("port"),
        sa.UniqueConstraint("app_guid", "name"),
    )
    _resource(
        "service_brokers",
        _text("name", 255),
        _text("url"),
        _text("username", 255),
        _text("password", 255),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("name"),
    )
    _resource(
        "service_offerings",
        _text("broker_guid", 36),
        _text("broker_id", 255),
        _text("name", 255),
        _text("description"),
        sa.Column("bindable", sa.Boolean(), nullable=False),
        sa.Column("plan_updateable", sa.Boolean(), nullable=False),
        _json("tags"),
        _json("requires"),
        _json("extra"),
        _fk("broker_guid", "service_brokers"),
        sa.UniqueConstraint("broker_guid", "broker_id"),
    )
    op.create_index("ix_service_offerings_name", "service_offerings", ["name"])
    _resource(
        "service_plans",
        _text("offering_guid", 36),
        _text("broker_id", 255),
        _text("name", 255),
        _text("description"),
        sa.Column("free", sa.Boolean(), nullable=False),
        sa.Column("bindable", sa.Boolean(), nullable=True),
        _json("extra"),
        _fk("offering_guid", "service_offerings"),
        sa.UniqueConstraint("offering_guid", "broker_id"),
    )
    _resource(
        "service_instances",
        _text("name", 255),
        _text("space_guid", 36),
        _text("kind", 16),
        sa.Column("plan_guid", sa.String(length=36), nullable=True),
        _json("parameters"),
        _json("credentials"),
        _text("syslog_drain_url"),
        _json("tags"),
        _text("dashboard_url"),
        _json("last_operation"),
        _json("pending"),
        sa.Column("backup_every", sa.Float(), nullable=True),
        sa.Column("backups_kept", sa.Integer(), nullable=False),
        _text("created_by", 255),
        _fk("space_guid", "spaces"),
        sa.UniqueConstraint("space_guid", "name"),
    )
    _resource(
        "service_bindings",
        _text("service_instance_guid", 36),
        _text("type", 8),
        sa.Column("app_guid", sa.String(length=36), nullable=True),
        _text("name", 255),
        sa.Column("binding_name", sa.String(length=255), nullable=True),
        _json("parameters"),
        _json("credentials"),
        _text("syslog_drain_url"),
        _json("last_operation"),
        _text("created_by", 255),
        _fk("service_instance_guid", "service_instances"),
        _fk("app_guid", "apps"),
        sa.UniqueConstraint("service_instance_guid", "type", "name"),
    )
    _resource(
        "service_backups",
        _text("service_instance_guid", 36),
        _text("state", 16),
        _text("blob", 64),
        sa.Column("size", sa.Integer(), nullable=False),
        _text("format", 32),
        _text("error"),
        _json("restore"),
        _text("created_by", 255),
        _fk("service_instance_guid", "service_instances"),
    )
    op.create_index(
        "ix_service_backups_service_instance_guid", "service_backups", ["service_instance_guid"]
    )


def downgrade() -> None:
    for table in (
        "service_backups",
        "service_bindings",
        "service_instances",
        "service_plans",
        "service_offerings",
        "service_brokers",
        "tcp_routes",
    ):
        op.drop_table(table)
    with op.batch_alter_table("revisions") as batch:
        batch.drop_column("services")
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("ports")
