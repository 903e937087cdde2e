"""waiting conversations targeted at an agent (issue 7: the dispatch pass's queue read)

A pass reads the queue a free agent can take: its groups' untargeted conversations and those
targeted at it. As one statement with `OR target_agent_id IN (...)` SQLite could use no index
for the OR and sorted every waiting row of the tenant (3.4 ms at 10,000 waiting, for one freed
slot). The pass now reads the two parts separately: the groups' part by ix_conversations_queue,
the targeted part by this small partial index (targeted conversations are few).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

WHERE = sa.text("target_agent_id IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_conversations_targeted",
        "conversations",
        ["tenant_id", "state", "target_agent_id"],
        sqlite_where=WHERE,
        postgresql_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_targeted", table_name="conversations")
