"""`bulk_send`'s writes on SQLite, as statements on the sqlite3 connection itself.

A batch of visitor sends writes one conversation row, one message and one event per send.
Through SQLAlchemy those three statements cost the event loop several times what SQLite spends
on them (execution context, bind and result processing: about 0.15 ms a send on a 2-core
machine, most of the batch's write). Here they are three plain sqlite3 calls in the batch's
transaction (`core.db.sqlite_call`), with the values `UTCDateTime` and `JSON` would store.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from kefu.core.db import sqlite_time

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
