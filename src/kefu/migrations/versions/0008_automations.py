"""automations: settings, per-conversation state, leave messages, alert records

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kefu.core.db import BigId, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", BigId, primary_key=True, autoincrement=True)


def _tenant() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "tenant_id", BigId, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "automation_settings",
        _id(),
        sa.Column(
            "tenant_id", BigId, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("welcome_text", sa.Text(), nullable=False),
        sa.Column("greeting_text", sa.Text(), nullable=False),
        sa.Column("end_message", sa.Text(), nullable=False),
        sa.Column("dispatcher_nickname", sa.String(20), nullable=False),
        sa.Column("salutation", sa.String(20), nullable=False),
        sa.Column("timers", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("tenant_id", name="uq_automation_settings_tenant_id"),
    )
    op.create_table(
        "automation_states",
        _id(),
        _tenant(),
        sa.Column(
            "conversation_id",
            BigId,
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("visitor_prompts", sa.Integer(), nullable=False),
        sa.Column("waiting_reminders", sa.Integer(), nullable=False),
        sa.Column("waiting_asked", sa.Boolean(), nullable=False),
        sa.Column("agent_overdue_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("conversation_id", name="uq_automation_states_conversation_id"),
    )
    op.create_index("ix_automation_states_tenant_id", "automation_states", ["tenant_id"])
    op.create_table(
        "leave_messages",
        _id(),
        _tenant(),
        sa.Column(
            "conversation_id",
            BigId,
            sa.ForeignKey("conversations.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "visitor_id", BigId, sa.ForeignKey("visitors.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("phone", sa.String(30), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_leave_messages_tenant_id", "leave_messages", ["tenant_id"])
    op.create_table(
        "alert_records",
        _id(),
        _tenant(),
        sa.Column(
            "conversation_id",
            BigId,
            sa.ForeignKey("conversations.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("agent_id", BigId, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_alert_records_tenant_id", "alert_records", ["tenant_id"])
    op.create_index("ix_alert_records_created_at", "alert_records", ["created_at"])


def downgrade() -> None:
    op.drop_table("alert_records")
    op.drop_table("leave_messages")
    op.drop_table("automation_states")
    op.drop_table("automation_settings")
