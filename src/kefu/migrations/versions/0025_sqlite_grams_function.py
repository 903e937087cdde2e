"""SQLite: the search triggers cut a document into grams with a Python function (issue 7)

`message_grams` gets, for every position of a message's document, the character and the pair
starting there. The triggers built that list in SQL with `substr(doc, n, …)` per position, and
SQLite walks a UTF-8 string from its start for every `substr`: 0.06–0.1 ms for a 60-character
message, 40 ms for a 5,000-character Chinese one, on the event loop's thread inside the send's
batch. They now call `kefu_grams(doc)` (kefu.search.grams; 0.015 ms and 1.7 ms), which returns
exactly the same text, so what was indexed before still deletes cleanly. Every connection Kefu
opens registers the function (kefu.core.db.sqlite_functions); a connection without it (e.g.
the sqlite3 shell) cannot insert or delete messages any more. PostgreSQL is unchanged.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 02:00:00
"""

from __future__ import annotations

from alembic import op

from kefu.search import fts

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def _triggers(grams_of: fts.GramsOf) -> None:
    op.execute("DROP TRIGGER message_search_ai")
    op.execute("DROP TRIGGER message_search_ad")
    for statement in fts.sqlite_gram_triggers(grams_of):
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _triggers(fts.sqlite_udf_grams)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _triggers(fts.sqlite_sql_grams)
