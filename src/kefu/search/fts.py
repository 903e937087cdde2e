"""The full-text index over message text (§13.1), one implementation per database.

What is searchable in a message (its *document*): the text of a text message, the file name of a
file or image, a link's title and address, a card's title and description, a location's address.
Visitor and agent messages only: whispers and system (Dispatcher) messages are not indexed.

Matching is a substring match, case-insensitive for the ASCII letters A–Z only (every other
character matches exactly), so both databases answer the same for the same data: the document
is stored with A–Z folded to a–z, the query is folded the same way, and the comparison itself
is case-sensitive.

Every indexed document is stored once, folded, in `message_search (message_id, doc)`; the
indexes are built over it. PostgreSQL keeps it current by triggers on `messages`. SQLite keeps
it, with its indexes, in a database file of its own written by a background indexer
(kefu.search.sqlite_index, since migration 0027), and a search also matches the messages
changed since the indexer's mark on their current documents (`_sqlite_hits`). Two paths,
chosen by the length of the folded query:

- 3+ characters, trigrams. SQLite: the FTS5 table `message_fts` (tokenizer `trigram
  case_sensitive 1`, external content = `message_search`, rowid = message id), queried with
  `MATCH` and the query quoted as one FTS5 string (a phrase of trigrams = a substring).
  PostgreSQL: a GIN `gin_trgm_ops` index (pg_trgm) on `doc`, queried with `LIKE '%q%'`.
  pg_trgm extracts trigrams from letters only as the database's LC_CTYPE sees them: under
  `C`, Chinese text gives none, and the index can only return every row for a recheck
  (correct, slow): deployments need a UTF-8 ctype (docs/search.md).
- 1–2 characters, "grams": every character and every pair of adjacent characters of the
  document is a key. SQLite: the contentless FTS5 table `message_grams` (`detail=none`, rowids
  only) whose tokens are the hex of each gram's UTF-8 bytes (so the `ascii` tokenizer keeps
  them whole and exact; the trigger cuts the document with `kefu_grams(doc)`, a Python function
  registered on every connection (kefu.search.grams; before migration 0025, SQL over the
  `search_positions` table, quadratic in the document's length)); the query is one token.
  The substring test of the changed messages (`instr` on the folded document) answers the
  same as either table.
  PostgreSQL: a GIN index on `kefu_search_grams(doc)` (text[]), queried with `@> ARRAY[q]`; it
  does not depend on the locale or on pg_trgm.

SQLite also keeps `search_id_days` (lowest and highest message id of each UTC day; bounds only
grow), so that a time window becomes a rowid range the FTS tables apply while reading hits.

A 1–2 character query matches exactly the documents holding it, so both paths are exact and
need no recheck. Without pg_trgm (the extension could not be created) a 3+ character query is
a `LIKE` scan of `message_search`: slower, same answers.

The SQL below is used by the migrations (0016, 0025, 0027), the SQLite indexer and the query
builder; `document()` is its Python mirror, used for snippets.
"""

# The DDL below is assembled from constants only (no user input reaches it).
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    Text,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.dialects import postgresql

from kefu.conversations.models import Message
from kefu.search import grams

MIN_TRIGRAM = 3
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_FOLD = str.maketrans(_UPPER, _LOWER)

message_fts = table("message_fts", column("rowid"), column("doc"))
message_search = table("message_search", column("message_id"), column("doc"))
message_grams = table("message_grams", column("rowid"), column("grams"))
search_id_days = table("search_id_days", column("day"), column("min_id"), column("max_id"))
search_log = table("search_log", column("id"), column("message_id"))
search_state = table("search_state", column("mark"))


def fold(text: str) -> str:
    """A–Z to a–z; nothing else changes (so offsets stay put)."""
    return text.translate(_FOLD)


def like_pattern(text: str) -> str:
    """`%text%` with LIKE's wildcards and the escape character taken literally (escape `\\`)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def fts5_phrase(text: str) -> str:
    """The text as one FTS5 string: no operator, column filter or prefix syntax survives."""
    return '"' + text.replace('"', '""') + '"'


def document(kind: str, body: dict[str, Any], attachment_name: str | None) -> str:
    """What the index holds for a message, unfolded (mirror of `doc_sql`)."""
    if kind == "text":
        return str(body.get("text") or "")
    if kind == "link":
        return f"{body.get('title') or ''}\n{body.get('url') or ''}"
    if kind == "location":
        return str(body.get("address") or "")
    if kind == "card":
        return f"{body.get('title') or ''}\n{body.get('description') or ''}"
    if kind in ("file", "image"):
        return attachment_name or ""
    return ""


def doc_sql(dialect: str, row: str) -> str:
    """The folded document of message row `row` (e.g. NEW, m) as an SQL expression."""
    if dialect == "sqlite":

        def j(key: str) -> str:
            return f"json_extract({row}.body, '$.{key}')"

        att = f"(SELECT a.name FROM attachments a WHERE a.id = {j('attachment_id')})"
        nl = "char(10)"
        fold_open, fold_close = "lower(", ")"  # SQLite's built-in lower() folds A–Z only
    else:

        def j(key: str) -> str:
            return f"({row}.body ->> '{key}')"

        att = (
            f"(SELECT a.name FROM attachments a WHERE a.id = ({row}.body ->> 'attachment_id')"
            "::bigint)"
        )
        nl = "chr(10)"
        fold_open, fold_close = "translate(", f", '{_UPPER}', '{_LOWER}')"
    case = (
        f"CASE {row}.kind"
        f" WHEN 'text' THEN {j('text')}"
        f" WHEN 'link' THEN coalesce({j('title')}, '') || {nl} || coalesce({j('url')}, '')"
        f" WHEN 'location' THEN {j('address')}"
        f" WHEN 'card' THEN coalesce({j('title')}, '') || {nl} || coalesce({j('description')}, '')"
        f" WHEN 'file' THEN {att} WHEN 'image' THEN {att} END"
    )
    return f"{fold_open}coalesce({case}, ''){fold_close}"


def indexed_sql(row: str, dialect: str) -> str:
    false = "0" if dialect == "sqlite" else "false"
    return f"{row}.whisper = {false} AND {row}.sender_type IN ('visitor', 'agent')"


# SQLite: the positions 1..N used to cut a document into its characters and character pairs
# inside a trigger (triggers allow no recursive CTE). N covers the longest document (a text
# message holds at most 5,000 characters; a link 200 + 1 + 2,000).
SQLITE_POSITIONS = 8192


def sqlite_sql_grams(doc: str) -> str:
    """The short-query tokens of document `doc` (an SQL expression): for every position, the
    character and the pair starting there, each as the hex of its UTF-8 bytes (plain ASCII
    alphanumerics, so the `ascii` tokenizer keeps each one whole and exact)."""
    return (
        "(SELECT coalesce(group_concat(hex(substr(d.v, p.n, 1)) || ' ' || hex(substr(d.v, p.n, 2)),"
        f" ' '), '') FROM (SELECT {doc} AS v) AS d, search_positions AS p"
        " WHERE p.n <= length(d.v))"
    )


GramsOf = Callable[[str], str]


def sqlite_gram_triggers(grams_of: GramsOf) -> list[str]:
    """The triggers keeping both FTS5 tables in step with `message_search`, the grams of a
    document made by `grams_of(SQL expression)`."""
    return [
        "CREATE TRIGGER message_search_ai AFTER INSERT ON message_search BEGIN"
        " INSERT INTO message_fts (rowid, doc) VALUES (new.message_id, new.doc);"
        " INSERT INTO message_grams (rowid, grams)"
        f" VALUES (new.message_id, {grams_of('new.doc')}); END",
        "CREATE TRIGGER message_search_ad AFTER DELETE ON message_search BEGIN"
        " INSERT INTO message_fts (message_fts, rowid, doc)"
        " VALUES ('delete', old.message_id, old.doc);"
        " INSERT INTO message_grams (message_grams, rowid, grams)"
        f" VALUES ('delete', old.message_id, {grams_of('old.doc')}); END",
    ]


def sqlite_udf_grams(doc: str) -> str:
    """The grams of `doc` by the Python function of migration 0025 (kefu.search.grams)."""
    return f"{grams.NAME}({doc})"


def gram_token(folded: str) -> str:
    """The short-query token of a 1–2 character (folded) query, as `kefu_grams` makes it."""
    return folded.encode("utf-8").hex().upper()


# One folded copy of each indexed document; both FTS5 tables index it without a copy.
SQLITE_INDEX_TABLES = [
    "CREATE TABLE message_search (message_id INTEGER PRIMARY KEY, doc TEXT NOT NULL)",
    "CREATE VIRTUAL TABLE message_fts USING fts5(doc, content = 'message_search',"
    " content_rowid = 'message_id', columnsize = 0, tokenize = 'trigram case_sensitive 1')",
    "CREATE VIRTUAL TABLE message_grams USING fts5(grams, content = '', detail = 'none',"
    " columnsize = 0, tokenize = 'ascii')",
]
# The id range of each (UTC) day's messages, so that a time window becomes a rowid range of
# the full-text tables (bounds only grow: deletions keep them safe).
SQLITE_ID_DAYS_TABLE = (
    "CREATE TABLE search_id_days (day TEXT PRIMARY KEY, min_id INTEGER NOT NULL,"
    " max_id INTEGER NOT NULL) WITHOUT ROWID"
)


def sqlite_ddl() -> list[str]:
    """Migrations 0016-0026: the index inside the main file, kept by triggers on `messages`
    (since 0027 it lives in a file of its own: kefu.search.sqlite_index)."""
    doc_new = doc_sql("sqlite", "new")
    when_new = indexed_sql("new", "sqlite")
    return [
        *SQLITE_INDEX_TABLES,
        "CREATE TABLE search_positions (n INTEGER PRIMARY KEY)",
        "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s"
        f" WHERE n < {SQLITE_POSITIONS}) INSERT INTO search_positions (n) SELECT n FROM s",
        *sqlite_gram_triggers(sqlite_sql_grams),  # 0025 swaps them for sqlite_udf_grams
        f"CREATE TRIGGER message_fts_ai AFTER INSERT ON messages WHEN {when_new} BEGIN"
        f" INSERT INTO message_search (message_id, doc) VALUES (new.id, {doc_new}); END",
        "CREATE TRIGGER message_fts_au AFTER UPDATE OF kind, body, whisper, sender_type"
        " ON messages BEGIN DELETE FROM message_search WHERE message_id = old.id;"
        f" INSERT INTO message_search (message_id, doc) SELECT new.id, {doc_new}"
        f" WHERE {when_new}; END",
        "CREATE TRIGGER message_fts_ad AFTER DELETE ON messages BEGIN"
        " DELETE FROM message_search WHERE message_id = old.id; END",
        f"INSERT INTO message_search (message_id, doc) SELECT m.id, {doc_sql('sqlite', 'm')}"
        f" FROM messages m WHERE {indexed_sql('m', 'sqlite')}",
        SQLITE_ID_DAYS_TABLE,
        "INSERT INTO search_id_days (day, min_id, max_id)"
        " SELECT coalesce(substr(created_at, 1, 10), ''), min(id), max(id) FROM messages"
        " GROUP BY 1",
        f"CREATE TRIGGER search_id_days_ai AFTER INSERT ON messages BEGIN {_ID_DAY_UPSERT} END",
        "CREATE TRIGGER search_id_days_au AFTER UPDATE OF id, created_at ON messages BEGIN"
        f" {_ID_DAY_UPSERT} END",
    ]


_ID_DAY_UPSERT = (
    "INSERT INTO search_id_days (day, min_id, max_id)"
    " VALUES (coalesce(substr(new.created_at, 1, 10), ''), new.id, new.id)"
    " ON CONFLICT (day) DO UPDATE"
    " SET min_id = min(min_id, excluded.min_id), max_id = max(max_id, excluded.max_id)"
    " WHERE excluded.min_id < min_id OR excluded.max_id > max_id;"
)


def sqlite_drop() -> list[str]:
    return [
        "DROP TRIGGER IF EXISTS message_fts_ai",
        "DROP TRIGGER IF EXISTS message_fts_au",
        "DROP TRIGGER IF EXISTS message_fts_ad",
        "DROP TRIGGER IF EXISTS message_search_ai",
        "DROP TRIGGER IF EXISTS message_search_ad",
        "DROP TABLE IF EXISTS message_fts",
        "DROP TABLE IF EXISTS message_grams",
        "DROP TABLE IF EXISTS message_search",
        "DROP TABLE IF EXISTS search_positions",
        "DROP TRIGGER IF EXISTS search_id_days_ai",
        "DROP TRIGGER IF EXISTS search_id_days_au",
        "DROP TABLE IF EXISTS search_id_days",
    ]


# Every character and every pair of adjacent characters of a document, in one pass over its
# characters: `substr(doc, i, n)` walks a UTF-8 string from its start, so cutting it that way
# was quadratic (150 ms for a 5,000-character message, inside the send's transaction; 0022).
# The characters once (`string_to_array`), then the pairs by zipping that array with itself
# shifted by one (a multi-argument `unnest`). No DISTINCT: GIN keeps each key once per row.
# With `lead() OVER` and `DISTINCT` the function cost more than the rest of storing a chat
# message (migration 0024). The same set of grams every time, so the index built on it stays
# valid when the body changes.
# plpgsql: an SQL function would be inlined, and an index expression may hold no subquery.
POSTGRESQL_GRAMS_FUNCTION = (
    "CREATE OR REPLACE FUNCTION kefu_search_grams(doc text) RETURNS text[] LANGUAGE plpgsql"
    " IMMUTABLE STRICT PARALLEL SAFE AS $$ DECLARE c text[] := string_to_array(doc, NULL);"
    " BEGIN RETURN c || ARRAY(SELECT a || b FROM unnest(c, c[2:]) AS t(a, b)"
    " WHERE b IS NOT NULL); END $$"
)


def postgresql_ddl() -> list[str]:
    """Table, trigger, short-query index and back-fill; the trigram index is created
    separately (needs pg_trgm)."""
    return [
        "CREATE TABLE message_search (message_id BIGINT PRIMARY KEY"
        " REFERENCES messages (id) ON DELETE CASCADE, doc TEXT NOT NULL)",
        "CREATE FUNCTION kefu_message_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN"
        " IF TG_OP = 'UPDATE' THEN DELETE FROM message_search WHERE message_id = OLD.id; END IF;"
        f" IF {indexed_sql('NEW', 'postgresql')} THEN"
        f" INSERT INTO message_search (message_id, doc) VALUES (NEW.id, {doc_sql('pg', 'NEW')});"
        " END IF;"
        " RETURN NULL;"
        " END $$",
        "CREATE TRIGGER message_search_sync AFTER INSERT OR UPDATE OF kind, body, whisper,"
        " sender_type ON messages FOR EACH ROW EXECUTE FUNCTION kefu_message_search_sync()",
        POSTGRESQL_GRAMS_FUNCTION,
        f"INSERT INTO message_search (message_id, doc) SELECT m.id, {doc_sql('pg', 'm')}"
        f" FROM messages m WHERE {indexed_sql('m', 'postgresql')}",
        "CREATE INDEX ix_message_search_grams ON message_search USING gin (kefu_search_grams(doc))",
    ]


POSTGRESQL_TRGM_INDEX = (
    "CREATE INDEX ix_message_search_doc_trgm ON message_search USING gin (doc gin_trgm_ops)"
)


def postgresql_drop() -> list[str]:
    return [
        "DROP TRIGGER IF EXISTS message_search_sync ON messages",
        "DROP FUNCTION IF EXISTS kefu_message_search_sync()",
        "DROP TABLE IF EXISTS message_search",
        "DROP FUNCTION IF EXISTS kefu_search_grams(text)",
    ]


def _sqlite_id_range(
    rowid: ColumnElement[Any], window: tuple[datetime, datetime]
) -> list[ColumnElement[bool]]:
    """rowid within the ids of the messages of the days the window touches: a superset of the
    window's messages, which the full-text table applies while reading its hits."""
    first, last = (t.astimezone(UTC).strftime("%Y-%m-%d") for t in window)
    days = search_id_days.c.day.between(first, last)
    low = select(func.min(search_id_days.c.min_id)).where(days).scalar_subquery()
    high = select(func.max(search_id_days.c.max_id)).where(days).scalar_subquery()
    return [rowid >= low, rowid <= high]


def _sqlite_pending() -> Select[tuple[int]]:
    """The messages changed since the indexer's mark (kefu.search.sqlite_index)."""
    mark = select(search_state.c.mark).scalar_subquery()
    return select(search_log.c.message_id).where(search_log.c.id > mark)


def _sqlite_hits(
    folded: str, window: tuple[datetime, datetime] | None
) -> CompoundSelect[tuple[int]]:
    """The index's hits, but not of messages changed since it was written, whose current
    documents are matched instead (a substring test, what the index answers too)."""
    if len(folded) >= MIN_TRIGRAM:
        fts_table, key = message_fts, fts5_phrase(folded)
    else:
        fts_table, key = message_grams, fts5_phrase(gram_token(folded))
    indexed = select(fts_table.c.rowid).where(
        literal_column(fts_table.name).op("MATCH")(key),
        fts_table.c.rowid.not_in(_sqlite_pending()),
    )
    if window is not None:
        indexed = indexed.where(*_sqlite_id_range(fts_table.c.rowid, window))
    changed = Message.__table__.alias("pm")
    scanned = select(changed.c.id).where(
        changed.c.id.in_(_sqlite_pending()),
        text(indexed_sql("pm", "sqlite")),
        func.instr(literal_column(doc_sql("sqlite", "pm")), folded) > 0,
    )
    return union_all(indexed, scanned)


def hits(
    dialect: str, query: str, window: tuple[datetime, datetime] | None = None
) -> Select[tuple[int]] | CompoundSelect[tuple[int]]:
    """The ids of the indexed messages whose document contains `query` (already trimmed;
    1+ characters), answered by the index: every tenant; SQLite: near `window` if given (a
    superset of the messages created in it), every time otherwise."""
    folded = fold(query)
    if dialect == "sqlite":
        return _sqlite_hits(folded, window)
    if len(folded) >= MIN_TRIGRAM:
        return select(message_search.c.message_id).where(
            message_search.c.doc.like(like_pattern(folded), escape="\\")
        )
    grams = func.kefu_search_grams(message_search.c.doc)
    return select(message_search.c.message_id).where(
        grams.op("@>")(literal([folded], type_=postgresql.ARRAY(Text)))
    )


def matches(
    dialect: str, query: str, window: tuple[datetime, datetime] | None = None
) -> ColumnElement[bool]:
    """A condition on `Message` (in a statement over messages): its document contains `query`
    (`window`: a hint, the statement filters by the same window itself)."""
    return Message.id.in_(hits(dialect, query, window))
