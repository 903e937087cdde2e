"""session tags: the tag tree, tags applied to conversations, their remark

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kefu.core.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "session_tags",
        sa.Column("tenant_id", _id(), nullable=False),
        sa.Column("parent_id", _id(), nullable=True),
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("color", sa.String(length=7), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["session_tags.id"],
            name=op.f("fk_session_tags_parent_id_session_tags"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_session_tags_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_tags")),
    )
    with op.batch_alter_table("session_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_tags_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_session_tags_tree", ["tenant_id", "parent_id", "position"], unique=False
        )

    op.create_table(
        "conversation_session_tags",
        sa.Column("tenant_id", _id(), nullable=False),
        sa.Column("conversation_id", _id(), nullable=False),
        sa.Column("tag_id", _id(), nullable=False),
        sa.Column("actor_id", _id(), nullable=True),
        sa.Column("created_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_conversation_session_tags_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_session_tags_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"],
            ["session_tags.id"],
            name=op.f("fk_conversation_session_tags_tag_id_session_tags"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_conversation_session_tags_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_session_tags")),
        sa.UniqueConstraint("conversation_id", "tag_id", name="uq_conversation_session_tags"),
    )
    with op.batch_alter_table("conversation_session_tags", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_session_tags_tenant_id"), ["tenant_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_conversation_session_tags_conversation_id"),
            ["conversation_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_conversation_session_tags_actor", ["tenant_id", "actor_id"], unique=False
        )
        batch_op.create_index("ix_conversation_session_tags_tag", ["tag_id"], unique=False)

    op.create_table(
        "conversation_tag_notes",
        sa.Column("tenant_id", _id(), nullable=False),
        sa.Column("conversation_id", _id(), nullable=False),
        sa.Column("remark", sa.String(length=200), nullable=False),
        sa.Column("updated_by", _id(), nullable=True),
        sa.Column("updated_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_tag_notes_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_conversation_tag_notes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name=op.f("fk_conversation_tag_notes_updated_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_tag_notes")),
        sa.UniqueConstraint("conversation_id", name="uq_conversation_tag_notes_conversation"),
    )
    with op.batch_alter_table("conversation_tag_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_tag_notes_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("conversation_tag_notes")
    op.drop_table("conversation_session_tags")
    op.drop_table("session_tags")
