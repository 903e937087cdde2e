"""PostgreSQL: the search grams function in linear time (issue 7)

`kefu_search_grams(doc)` cut a document with `substr(doc, i, …)` for every position; on UTF-8
each call walks the string from its start, so a 5,000-character message cost about 150 ms of
PostgreSQL CPU in the trigger, inside the send's transaction (every send of that batch waited).
The new body splits the document into characters once. It returns the same set of grams, so
the GIN index built on it stays valid. SQLite has no such function (FTS5 tables).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 01:00:00
"""

from __future__ import annotations

from alembic import op

from kefu.search import fts

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_QUADRATIC = (
    "CREATE OR REPLACE FUNCTION kefu_search_grams(doc text) RETURNS text[] LANGUAGE plpgsql"
    " IMMUTABLE STRICT PARALLEL SAFE AS $$ BEGIN RETURN ARRAY(SELECT DISTINCT g FROM"
    " generate_series(1, length(doc)) AS i,"
    " unnest(ARRAY[substr(doc, i, 1), substr(doc, i, 2)]) AS g); END $$"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(fts.POSTGRESQL_GRAMS_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_QUADRATIC)
