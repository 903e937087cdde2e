"""messages: drop the two indexes others already cover (issue 7: the cost of a stored message)

`ix_messages_tenant_id` is the first column of `ix_messages_tenant_created`, and
`ix_messages_conversation_id` the first column of `uq_messages_conversation_seq`: every lookup
(and every cascade from a deleted tenant or conversation) they served, those serve. Each index
is written by every stored message, inside the send's transaction.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-08 03:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

_INDEXES = {"ix_messages_tenant_id": "tenant_id", "ix_messages_conversation_id": "conversation_id"}


def upgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="messages")


def downgrade() -> None:
    for name, column in _INDEXES.items():
        op.create_index(name, "messages", [column])
