"""sealed: environment variables, credentials, passwords and private keys stored sealed

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 09:50:00
"""

import json

import sqlalchemy as sa
from alembic import op

from yun.store.sealing import PREFIX, seal

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SEALED_JSON = (
    ("apps", "env"),
    ("apps", "spec"),
    ("packages", "image"),
    ("droplets", "image"),
    ("revisions", "env"),
    ("revisions", "services"),
    ("service_instances", "parameters"),
    ("service_instances", "credentials"),
    ("service_bindings", "parameters"),
    ("service_bindings", "credentials"),
)
SEALED_TEXT = (
    ("certificates", "bundle"),
    ("acme_accounts", "key_pem"),
    ("service_brokers", "password"),
)


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    for table, column in SEALED_JSON:
        with op.batch_alter_table(table) as batch:
            if postgres:
                batch.alter_column(
                    column,
                    type_=sa.Text(),
                    existing_type=sa.JSON(),
                    existing_nullable=False,
                    postgresql_using=f"{column}::text",
                )
            else:
                batch.alter_column(
                    column, type_=sa.Text(), existing_type=sa.JSON(), existing_nullable=False
                )
    with op.batch_alter_table("service_brokers") as batch:
        batch.alter_column(
            "password", type_=sa.Text(), existing_type=sa.String(255), existing_nullable=False
        )
    for table, column in (*SEALED_JSON, *SEALED_TEXT):
        rows_of = sa.table(table, sa.column("guid"), sa.column(column))
        rows = bind.execute(sa.select(rows_of.c.guid, rows_of.c[column])).all()
        for guid, value in rows:
            if value is None or str(value).startswith(PREFIX):
                continue
            text = value if isinstance(value, str) else json.dumps(value)
            bind.execute(
                sa.update(rows_of)
                .where(rows_of.c.guid == guid)
                .values({column: seal(bind.dialect, text)})
            )


def downgrade() -> None:
    raise NotImplementedError("sealed values are not unsealed by a downgrade")
