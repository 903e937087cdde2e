"""search: the full-text index over message text (§13.1)

Both: table message_search (the folded document of every indexed message) kept by triggers on
messages. SQLite: FTS5 tables message_fts (trigram, external content) and message_grams
(1–2 character keys, contentless) + triggers. PostgreSQL: GIN index on kefu_search_grams(doc)
and GIN trigram index (pg_trgm; skipped with a warning when the extension cannot be created).
Both: index messages (tenant_id, created_at) for the time-window scans. See kefu.search.fts.

Revision ID: 0016
Revises: 0014
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from kefu.search import fts

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def _create_trgm(bind: sa.Connection) -> bool:
    """pg_trgm, if this database user may create it (superuser, or a trusted extension on
    PostgreSQL 13+ for a user with CREATE on the database)."""
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        return True
    except sa.exc.DBAPIError as err:
        log.warning("search: pg_trgm unavailable (%s); message search runs without its index", err)
        return False


def upgrade() -> None:
    bind = op.get_bind()
    op.create_index("ix_messages_tenant_created", "messages", ["tenant_id", "created_at"])
    if bind.dialect.name == "sqlite":
        for statement in fts.sqlite_ddl():
            bind.exec_driver_sql(statement)
        return
    for statement in fts.postgresql_ddl():
        bind.exec_driver_sql(statement)
    if _create_trgm(bind):
        bind.exec_driver_sql(fts.POSTGRESQL_TRGM_INDEX)


def downgrade() -> None:
    bind = op.get_bind()
    statements = fts.sqlite_drop() if bind.dialect.name == "sqlite" else fts.postgresql_drop()
    for statement in statements:
        bind.exec_driver_sql(statement)
    op.drop_index("ix_messages_tenant_created", table_name="messages")
