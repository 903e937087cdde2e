"""customers: profile fields on visitors, profile layout and automatic customer groups

Revision ID: 0018
Revises: 0014
Create Date: 2026-12-01 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kefu.core.db

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_TEXT_COLUMNS = (
    ("nickname", 256),
    ("qq", 45),
    ("wechat", 45),
    ("company", 45),
    ("description", 200),
)


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time() -> kefu.core.db.UTCDateTime:
    return kefu.core.db.UTCDateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    # Adding columns keeps SQLite's table in place (no copy); the mobile number widens to the
    # import template's 45 characters (SQLite does not enforce VARCHAR lengths).
    with op.batch_alter_table("visitors") as batch:
        for name, length in _TEXT_COLUMNS:
            batch.add_column(
                sa.Column(name, sa.String(length=length), nullable=False, server_default="")
            )
        batch.add_column(
            sa.Column("fields", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch.add_column(
            sa.Column("source", sa.String(length=10), nullable=False, server_default="widget")
        )
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(
            "visitors", "phone", type_=sa.String(length=45), existing_type=sa.String(length=20)
        )

    op.create_table(
        "customer_fields",
        sa.Column("tenant_id", _id(), nullable=False),
        sa.Column("system_key", sa.String(length=20), nullable=True),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("agent_visible", sa.Boolean(), nullable=False),
        sa.Column("readonly", sa.Boolean(), nullable=False),
        sa.Column("shown", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        _fk("customer_fields", "tenant_id", "tenants", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_fields")),
    )
    with op.batch_alter_table("customer_fields") as batch:
        batch.create_index(batch.f("ix_customer_fields_tenant_id"), ["tenant_id"], unique=False)
        batch.create_index(
            "ix_customer_fields_tenant_position", ["tenant_id", "position"], unique=False
        )

    op.create_table(
        "customer_groups",
        sa.Column("tenant_id", _id(), nullable=False),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("agent_visible", sa.Boolean(), nullable=False),
        sa.Column("match", sa.String(length=3), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        _fk("customer_groups", "tenant_id", "tenants", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_groups")),
    )
    with op.batch_alter_table("customer_groups") as batch:
        batch.create_index(batch.f("ix_customer_groups_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_table("customer_groups")
    op.drop_table("customer_fields")
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(
            "visitors", "phone", type_=sa.String(length=20), existing_type=sa.String(length=45)
        )
    with op.batch_alter_table("visitors") as batch:
        batch.drop_column("source")
        batch.drop_column("fields")
        for name, _length in reversed(_TEXT_COLUMNS):
            batch.drop_column(name)
