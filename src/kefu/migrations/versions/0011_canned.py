"""canned replies: public and personal sets, usage marks and pins, sort prefs, submissions

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kefu.core.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "canned_categories",
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("created_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_canned_categories_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["canned_categories.id"],
            name=op.f("fk_canned_categories_parent_id_canned_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_canned_categories_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_categories")),
    )
    with op.batch_alter_table("canned_categories", schema=None) as batch_op:
        batch_op.create_index("ix_canned_categories_set", ["tenant_id", "owner_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_canned_categories_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "canned_prefs",
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sort", sa.String(length=10), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_canned_prefs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_canned_prefs_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_prefs")),
        sa.UniqueConstraint("user_id", name="uq_canned_prefs_user"),
    )
    with op.batch_alter_table("canned_prefs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_canned_prefs_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "canned_replies",
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "category_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["canned_categories.id"],
            name=op.f("fk_canned_replies_category_id_canned_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_canned_replies_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_canned_replies_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_replies")),
    )
    with op.batch_alter_table("canned_replies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_canned_replies_category_id"), ["category_id"], unique=False
        )
        batch_op.create_index("ix_canned_replies_set", ["tenant_id", "owner_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_canned_replies_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "canned_marks",
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reply_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("use_count", sa.Integer(), nullable=False),
        sa.Column("last_used_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pinned_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["reply_id"],
            ["canned_replies.id"],
            name=op.f("fk_canned_marks_reply_id_canned_replies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_canned_marks_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_canned_marks_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_marks")),
        sa.UniqueConstraint("user_id", "reply_id", name="uq_canned_marks_user_reply"),
    )
    with op.batch_alter_table("canned_marks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_canned_marks_reply_id"), ["reply_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_canned_marks_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "canned_submissions",
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "requester_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "source_reply_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "category_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("comment", sa.String(length=200), nullable=False),
        sa.Column(
            "decided_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("decided_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "public_reply_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["canned_categories.id"],
            name=op.f("fk_canned_submissions_category_id_canned_categories"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["users.id"],
            name=op.f("fk_canned_submissions_decided_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["public_reply_id"],
            ["canned_replies.id"],
            name=op.f("fk_canned_submissions_public_reply_id_canned_replies"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["users.id"],
            name=op.f("fk_canned_submissions_requester_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_reply_id"],
            ["canned_replies.id"],
            name=op.f("fk_canned_submissions_source_reply_id_canned_replies"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_canned_submissions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_submissions")),
    )
    with op.batch_alter_table("canned_submissions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_canned_submissions_state", ["tenant_id", "state", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_canned_submissions_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("canned_submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_canned_submissions_tenant_id"))
        batch_op.drop_index("ix_canned_submissions_state")

    op.drop_table("canned_submissions")
    with op.batch_alter_table("canned_marks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_canned_marks_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_canned_marks_reply_id"))

    op.drop_table("canned_marks")
    with op.batch_alter_table("canned_replies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_canned_replies_tenant_id"))
        batch_op.drop_index("ix_canned_replies_set")
        batch_op.drop_index(batch_op.f("ix_canned_replies_category_id"))

    op.drop_table("canned_replies")
    with op.batch_alter_table("canned_prefs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_canned_prefs_tenant_id"))

    op.drop_table("canned_prefs")
    with op.batch_alter_table("canned_categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_canned_categories_tenant_id"))
        batch_op.drop_index("ix_canned_categories_set")

    op.drop_table("canned_categories")
