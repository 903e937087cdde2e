"""SQLite: the search index moves to a file of its own, written beside the sends (issue 7)

The send's transaction no longer indexes the message (two FTS5 tables, about 0.1 ms of SQLite
CPU on the event loop's thread, under the only write lock); triggers on messages append a row
to `search_log` instead, and the server's indexer writes the index into `kefu-search.db`
(kefu.search.sqlite_index). The index tables leave the main file; the search file is made and
filled at the next start (any search file left from before is deleted, as it would not match
this log). Downgrade: the index goes back into the main file, built from the messages.
PostgreSQL is unchanged.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-08 02:00:00
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

from kefu.search import fts, sqlite_index

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def _main_file() -> Path | None:
    database = op.get_bind().engine.url.database
    return Path(database) if database and database != ":memory:" else None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in [*fts.sqlite_drop(), *sqlite_index.LOG_DDL]:
        op.execute(statement)
    main = _main_file()
    if main is not None:
        sqlite_index.remove_search_file(main)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in sqlite_index.LOG_DROP:
        op.execute(statement)
    # 0016's tables and back-fill, then 0025's triggers.
    for statement in fts.sqlite_ddl():
        op.execute(statement)
    op.execute("DROP TRIGGER message_search_ai")
    op.execute("DROP TRIGGER message_search_ad")
    for statement in fts.sqlite_gram_triggers(fts.sqlite_udf_grams):
        op.execute(statement)
    main = _main_file()
    if main is not None:
        sqlite_index.remove_search_file(main)
