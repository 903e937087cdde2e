"""`bulk_send`'s statements on SQLite, run on the sqlite3 connection itself.

A batch of visitor sends reads its conversations, then writes one conversation row, one
message and one event per send. Through SQLAlchemy those statements cost the event loop several
times what SQLite spends on them (execution context, bind and result processing, the ORM's
loading: most of the batch's CPU). Here they are plain sqlite3 calls in the batch's transaction
(`core.db.sqlite_call`), with the values `UTCDateTime` and `JSON` would store, and the
conversations come back as the ORM would load them, converted by the columns' own types.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm.instrumentation import manager_of_class

from kefu.conversations.models import Conversation
from kefu.core.db import sqlite_time

_CONVERSATION_COLUMNS = list(cast(Table, Conversation.__table__).columns)
# As `bulk_send._OPEN_OF_MANY`: `state != 'ended'` as written in the partial unique index.
_OPEN_OF = (
    f"SELECT {', '.join(c.name for c in _CONVERSATION_COLUMNS)} FROM conversations"  # noqa: S608
    " WHERE visitor_id IN (SELECT value FROM json_each(?)) AND state != 'ended' ORDER BY id"
)
_NEW_CONVERSATION = manager_of_class(Conversation).new_instance
_CONVERTERS: dict[type[Dialect], list[tuple[str, Any]]] = {}

_SET_LAST = (
    "UPDATE conversations SET last_seq = ?, last_message_at = ?, last_message_kind = ?,"
    " last_message_sender = ?, last_message_preview = ?, last_visitor_message_at = ?"
    " WHERE id = ?"
)
_COLUMNS = (
    "tenant_id, conversation_id, seq, sender_type, sender_id, sender_name, kind, body,"
    " whisper, client_msg_id, content_digest, created_at"
)
_ROW = "(" + ", ".join(["?"] * len(_COLUMNS.split(","))) + ")"
_EVENTS = (
    "INSERT INTO conversation_events (tenant_id, conversation_id, seq, name, message_id, data,"
    " staff_only, created_at) VALUES (?, ?, ?, 'message.created', ?, '{}', ?, ?)"
)
_INSERTS: dict[int, str] = {}


def open_conversations(conn: sqlite3.Connection, visitor_ids: list[int]) -> list[tuple[Any, ...]]:
    """The visitors' open conversations, as stored (see `conversations`)."""
    return conn.execute(_OPEN_OF, (json.dumps(visitor_ids),)).fetchall()


def conversations(rows: list[tuple[Any, ...]], dialect: Dialect) -> list[Conversation]:
    """`open_conversations`' rows as `Conversation`s with what the ORM would have loaded
    (each column's own result conversion). They are not in any session: the caller reads them
    and keeps them current with `set_committed_value`, as it would a loaded row; writes go
    through statements."""
    converters = _CONVERTERS.get(type(dialect))
    if converters is None:
        converters = _CONVERTERS[type(dialect)] = [
            (c.key, c.type.dialect_impl(dialect).result_processor(dialect, None))
            for c in _CONVERSATION_COLUMNS
        ]
    out = []
    for row in rows:
        conv = _NEW_CONVERSATION()
        conv.__dict__.update(
            (key, value if convert is None or value is None else convert(value))
            for (key, convert), value in zip(converters, row, strict=True)
        )
        out.append(conv)
    return out


def _insert(n: int) -> str:
    """One INSERT of n rows that returns their ids: executemany cannot return rows. Kept per
    n (at most the batcher's MAX_BATCH texts), as sqlite3 keeps their prepared statements."""
    sql = _INSERTS.get(n)
    if sql is None:
        rows = ", ".join([_ROW] * n)  # placeholders only: the values are bound
        sql = _INSERTS[n] = (
            f"INSERT INTO messages ({_COLUMNS}) VALUES {rows} RETURNING id, conversation_id, seq"  # noqa: S608
        )
    return sql


def write(
    conn: sqlite3.Connection, last: list[dict[str, Any]], rows: list[dict[str, Any]]
) -> dict[tuple[int, int], int]:
    """The conversations' new last-message columns (`last`: bulk_send's `b_*` parameters),
    the message rows and their `message.created` events. Returns the message ids by
    (conversation, seq), which is unique."""
    times: dict[datetime, str] = {}  # a batch's rows share one `now`

    def at(value: datetime | None) -> str | None:
        if value is None:
            return None
        text = times.get(value)
        if text is None:
            text = times[value] = sqlite_time(value)
        return text

    conn.executemany(
        _SET_LAST,
        [
            (
                c["b_last_seq"],
                at(c["b_last_message_at"]),
                c["b_last_message_kind"],
                c["b_last_message_sender"],
                c["b_last_message_preview"],
                at(c["b_last_visitor_message_at"]),
                c["b_id"],
            )
            for c in last
        ],
    )
    values: list[Any] = []
    for r in rows:
        values += (
            r["tenant_id"],
            r["conversation_id"],
            r["seq"],
            r["sender_type"],
            r["sender_id"],
            r["sender_name"],
            r["kind"],
            json.dumps(r["body"]),  # as SQLAlchemy's JSON type writes it
            r["whisper"],
            r["client_msg_id"],
            r["content_digest"],
            at(r["created_at"]),
        )
    ids = {(c, q): mid for mid, c, q in conn.execute(_insert(len(rows)), values)}
    conn.executemany(
        _EVENTS,
        [
            (
                r["tenant_id"],
                r["conversation_id"],
                r["seq"],
                ids[r["conversation_id"], r["seq"]],
                r["whisper"],
                at(r["created_at"]),
            )
            for r in rows
        ],
    )
    return ids
