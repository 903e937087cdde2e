"""The full-text index over message text (§13.1), one implementation per database.

What is searchable in a message (its *document*): the text of a text message, the file name of a
file or image, a link's title and address, a card's title and description, a location's address.
Visitor and agent messages only: whispers and system (Dispatcher) messages are not indexed.

Matching is a substring match, case-insensitive for the ASCII letters A–Z only (every other
character matches exactly), so both databases answer the same for the same data: the document
is stored with A–Z folded to a–z, the query is folded the same way, and the comparison itself
is case-sensitive.

- SQLite: the FTS5 table `message_fts` (tokenizer `trigram case_sensitive 1`, rowid = message
  id), kept current by triggers on `messages`. Queries of 3+ characters use `MATCH` with the
  query quoted as one FTS5 string (a phrase of trigrams = a substring). Trigrams cannot answer
  1–2 character queries, so those compare the document with `LIKE` one candidate message at a
  time (rowid look-ups), bounded by the other filters and the time window.
- PostgreSQL: the table `message_search` (message_id, doc), kept current by a trigger, with a
  GIN `gin_trgm_ops` index (extension pg_trgm) that answers `LIKE '%q%'` for 3+ characters.
  Shorter queries use the same per-message `LIKE`. Without pg_trgm the index is missing and
  every query is a `LIKE` scan (slower, same answers).

The SQL below is used by the migration (0016) and by the query builder; `document()` is its
Python mirror, used for snippets.
"""

# The DDL below is assembled from constants only (no user input reaches it).
# ruff: noqa: S608

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, column, exists, literal_column, select, table

from kefu.conversations.models import Message

MIN_TRIGRAM = 3
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_FOLD = str.maketrans(_UPPER, _LOWER)

message_fts = table("message_fts", column("rowid"), column("doc"))
message_search = table("message_search", column("message_id"), column("doc"))


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
    """What the index holds for a message, unfolded (mirror of `_doc_sql`)."""
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


def _doc_sql(dialect: str, row: str) -> str:
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


def _indexed_sql(row: str, dialect: str) -> str:
    false = "0" if dialect == "sqlite" else "false"
    return f"{row}.whisper = {false} AND {row}.sender_type IN ('visitor', 'agent')"


def sqlite_ddl() -> list[str]:
    doc_new = _doc_sql("sqlite", "new")
    when_new = _indexed_sql("new", "sqlite")
    return [
        "CREATE VIRTUAL TABLE message_fts USING fts5(doc, tokenize = 'trigram case_sensitive 1')",
        f"CREATE TRIGGER message_fts_ai AFTER INSERT ON messages WHEN {when_new} BEGIN"
        f" INSERT INTO message_fts (rowid, doc) VALUES (new.id, {doc_new}); END",
        "CREATE TRIGGER message_fts_au AFTER UPDATE OF kind, body, whisper, sender_type"
        " ON messages BEGIN DELETE FROM message_fts WHERE rowid = old.id;"
        f" INSERT INTO message_fts (rowid, doc) SELECT new.id, {doc_new} WHERE {when_new}; END",
        "CREATE TRIGGER message_fts_ad AFTER DELETE ON messages BEGIN"
        " DELETE FROM message_fts WHERE rowid = old.id; END",
        f"INSERT INTO message_fts (rowid, doc) SELECT m.id, {_doc_sql('sqlite', 'm')}"
        f" FROM messages m WHERE {_indexed_sql('m', 'sqlite')}",
    ]


def sqlite_drop() -> list[str]:
    return [
        "DROP TRIGGER IF EXISTS message_fts_ai",
        "DROP TRIGGER IF EXISTS message_fts_au",
        "DROP TRIGGER IF EXISTS message_fts_ad",
        "DROP TABLE IF EXISTS message_fts",
    ]


def postgresql_ddl() -> list[str]:
    """Table, trigger and back-fill; the trigram index is created separately (needs pg_trgm)."""
    return [
        "CREATE TABLE message_search (message_id BIGINT PRIMARY KEY"
        " REFERENCES messages (id) ON DELETE CASCADE, doc TEXT NOT NULL)",
        "CREATE FUNCTION kefu_message_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN"
        " IF TG_OP = 'UPDATE' THEN DELETE FROM message_search WHERE message_id = OLD.id; END IF;"
        f" IF {_indexed_sql('NEW', 'postgresql')} THEN"
        f" INSERT INTO message_search (message_id, doc) VALUES (NEW.id, {_doc_sql('pg', 'NEW')});"
        " END IF;"
        " RETURN NULL;"
        " END $$",
        "CREATE TRIGGER message_search_sync AFTER INSERT OR UPDATE OF kind, body, whisper,"
        " sender_type ON messages FOR EACH ROW EXECUTE FUNCTION kefu_message_search_sync()",
        f"INSERT INTO message_search (message_id, doc) SELECT m.id, {_doc_sql('pg', 'm')}"
        f" FROM messages m WHERE {_indexed_sql('m', 'postgresql')}",
    ]


POSTGRESQL_TRGM_INDEX = (
    "CREATE INDEX ix_message_search_doc_trgm ON message_search USING gin (doc gin_trgm_ops)"
)


def postgresql_drop() -> list[str]:
    return [
        "DROP TRIGGER IF EXISTS message_search_sync ON messages",
        "DROP FUNCTION IF EXISTS kefu_message_search_sync()",
        "DROP TABLE IF EXISTS message_search",
    ]


def matches(dialect: str, query: str) -> ColumnElement[bool]:
    """A condition on `Message` (in a statement over messages): its document contains `query`
    (already trimmed; 1+ characters)."""
    folded = fold(query)
    pattern = like_pattern(folded)
    if dialect == "sqlite":
        if len(folded) >= MIN_TRIGRAM:
            hits = select(message_fts.c.rowid).where(
                literal_column("message_fts").op("MATCH")(fts5_phrase(folded))
            )
            return Message.id.in_(hits)
        return exists(
            select(literal_column("1"))
            .select_from(message_fts)
            .where(message_fts.c.rowid == Message.id, message_fts.c.doc.like(pattern, escape="\\"))
        )
    if len(folded) >= MIN_TRIGRAM:
        hits = select(message_search.c.message_id).where(
            message_search.c.doc.like(pattern, escape="\\")
        )
        return Message.id.in_(hits)
    return exists(
        select(literal_column("1"))
        .select_from(message_search)
        .where(
            message_search.c.message_id == Message.id,
            message_search.c.doc.like(pattern, escape="\\"),
        )
    )
