"""blacklist: entries (requests, in effect, removed) and messages blacklisted visitors sent

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kefu.core.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time() -> kefu.core.db.UTCDateTime:
    return kefu.core.db.UTCDateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "blacklist_entries",
        sa.Column("tenant_id", _id(), nullable=False),
        sa.Column("visitor_id", _id(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("conversation_id", _id(), nullable=True),
        sa.Column("requested_by", _id(), nullable=True),
        sa.Column("requested_at", _time(), nullable=False),
        sa.Column("decided_by", _id(), nullable=True),
        sa.Column("decided_at", _time(), nullable=True),
        sa.Column("comment", sa.String(length=200), nullable=False),
        sa.Column("removed_by", _id(), nullable=True),
        sa.Column("removed_at", _time(), nullable=True),
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        _fk("blacklist_entries", "tenant_id", "tenants", "CASCADE"),
        _fk("blacklist_entries", "visitor_id", "visitors", "CASCADE"),
        _fk("blacklist_entries", "conversation_id", "conversations", "SET NULL"),
        _fk("blacklist_entries", "requested_by", "users", "SET NULL"),
        _fk("blacklist_entries", "decided_by", "users", "SET NULL"),
        _fk("blacklist_entries", "removed_by", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blacklist_entries")),
    )
    with op.batch_alter_table("blacklist_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_blacklist_entries_tenant_id"), ["tenant_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_blacklist_entries_visitor_id"), ["visitor_id"], unique=False
        )
        batch_op.create_index(
            "ix_blacklist_entries_tenant_state", ["tenant_id", "state", "id"], unique=False
        )
        batch_op.create_index(
            "uq_blacklist_entries_live_visitor",
            ["tenant_id", "visitor_id"],
            unique=True,
            sqlite_where=sa.text("state IN ('pending', 'active')"),
            postgresql_where=sa.text("state IN ('pending', 'active')"),
        )

    op.create_table(
        "blacklist_messages",
        sa.Column("tenant_id", _id(), nullable=False),
        sa.Column("visitor_id", _id(), nullable=False),
        sa.Column("entry_id", _id(), nullable=True),
        sa.Column("client_msg_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("content_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        _fk("blacklist_messages", "tenant_id", "tenants", "CASCADE"),
        _fk("blacklist_messages", "visitor_id", "visitors", "CASCADE"),
        _fk("blacklist_messages", "entry_id", "blacklist_entries", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blacklist_messages")),
    )
    with op.batch_alter_table("blacklist_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_blacklist_messages_tenant_id"), ["tenant_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_blacklist_messages_visitor_id"), ["visitor_id"], unique=False
        )
        batch_op.create_index(
            "uq_blacklist_messages_client_id",
            ["tenant_id", "visitor_id", "client_msg_id"],
            unique=True,
        )


def downgrade() -> None:
    op.drop_table("blacklist_messages")
    op.drop_table("blacklist_entries")
