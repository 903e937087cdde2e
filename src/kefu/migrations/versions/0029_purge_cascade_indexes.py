"""indexes for the cascades of a purged conversation (issue 7: retention at scale)

The retention purge (`kefu.history.retention`) deletes ended conversations 500 at a time, and
the database follows every foreign key from the deleted rows. Five such keys had no index, so
each deleted row scanned the whole child table:

- `conversation_events.message_id` (ON DELETE CASCADE): one scan of the largest table for every
  message of every purged conversation. In a SQLite experiment with 200,000 events, deleting one
  conversation of 100 messages took 2.7 s without the index and 0.3 ms with it; the purge holds
  the write lock meanwhile, so every chat send waits;
- `messages.segment_id` (SET NULL): one scan of the messages for every segment;
- `alert_records`, `blacklist_entries`, `leave_messages` `.conversation_id` (SET NULL).

The two on the hot tables are partial (`IS NOT NULL`): the rows they skip are never looked up
by the cascade (`= ?` implies NOT NULL, which both databases use), and visitors' messages, the
most common, write no entry in `ix_messages_segment_id`.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-09 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

_PARTIAL = {
    "ix_conversation_events_message_id": ("conversation_events", "message_id"),
    "ix_messages_segment_id": ("messages", "segment_id"),
}
_PLAIN = {
    "ix_alert_records_conversation_id": ("alert_records", "conversation_id"),
    "ix_blacklist_entries_conversation_id": ("blacklist_entries", "conversation_id"),
    "ix_leave_messages_conversation_id": ("leave_messages", "conversation_id"),
}


def upgrade() -> None:
    for name, (table, column) in _PARTIAL.items():
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, table, [column], sqlite_where=where, postgresql_where=where)
    for name, (table, column) in _PLAIN.items():
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, (table, _column) in {**_PARTIAL, **_PLAIN}.items():
        op.drop_index(name, table_name=table)
