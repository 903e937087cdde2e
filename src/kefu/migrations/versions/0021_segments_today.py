"""segments by tenant and start (issue 7: the dispatch snapshot's "accepted today")

Every dispatch pass counts each agent's conversations accepted today. Without this index the
count scanned all of the tenant's segments ever (ix_conversation_segments_tenant_id), so a pass
got slower with every day of history; with it the count reads today's range from the index alone.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 01:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_segments_tenant_started",
        "conversation_segments",
        ["tenant_id", "started_at", "agent_id", "conversation_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_segments_tenant_started", table_name="conversation_segments")
