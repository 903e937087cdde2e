"""history: retention settings and list indexes (§3.10, §13.2)

Revision ID: 0017
Revises: 0014
Create Date: 2026-11-26 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kefu.core.db

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "history_settings",
        sa.Column("tenant_id", BIG, nullable=False),
        sa.Column("retention_months", sa.Integer(), nullable=False),
        sa.Column("updated_at", kefu.core.db.UTCDateTime(), nullable=False),
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_history_settings_tenant_id")),
    )
    op.create_index(
        "ix_conversations_history_ended", "conversations", ["tenant_id", "state", "ended_at"]
    )
    op.create_index(
        "ix_conversations_history_accepted",
        "conversations",
        ["tenant_id", "state", "accepted_at"],
    )
    op.create_index(
        "ix_segments_agent_conversation", "conversation_segments", ["agent_id", "conversation_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_segments_agent_conversation", table_name="conversation_segments")
    op.drop_index("ix_conversations_history_accepted", table_name="conversations")
    op.drop_index("ix_conversations_history_ended", table_name="conversations")
    op.drop_table("history_settings")
