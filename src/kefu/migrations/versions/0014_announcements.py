"""announcements and their recipients (§15.2)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kefu.core.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "announcements",
        sa.Column("tenant_id", BIG, nullable=False),
        sa.Column("author_id", BIG, nullable=True),
        sa.Column("author_name", sa.String(length=50), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("attachment_ids", sa.JSON(), nullable=False),
        sa.Column("recipient_count", sa.Integer(), nullable=False),
        sa.Column("created_at", kefu.core.db.UTCDateTime(), nullable=False),
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_announcements_tenant_id", "announcements", ["tenant_id"])
    op.create_index("ix_announcements_tenant_newest", "announcements", ["tenant_id", "id"])
    op.create_table(
        "announcement_recipients",
        sa.Column("announcement_id", BIG, nullable=False),
        sa.Column("user_id", BIG, nullable=False),
        sa.ForeignKeyConstraint(["announcement_id"], ["announcements.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("announcement_id", "user_id"),
    )
    op.create_index("ix_announcement_recipients_user_id", "announcement_recipients", ["user_id"])


def downgrade() -> None:
    op.drop_table("announcement_recipients")
    op.drop_table("announcements")
