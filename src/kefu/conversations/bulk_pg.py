"""`bulk_send`'s write on PostgreSQL: a batch of visitor sends in one statement.

Each statement of a batch is a round trip: a wait for PostgreSQL, and on a small machine about
0.15 ms of the event loop's CPU besides SQLAlchemy's own work per statement. Here one statement
locks the visitors' open conversations (in id order, as one batch's sends always take them),
advances the ongoing ones' seq and last-message columns, inserts the messages with the seqs
that follow, and inserts their `message.created` events. Hooks may add their own set-wise work
to it (`hooks.BulkSql`: the automations end the visitors' timeouts here). It returns the
written conversations as stored, with the ids of their new messages. What it does not write (a
conversation not ongoing, a visitor's first message) is left to `visitor_send`, as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from kefu.conversations import bulk_sqlite
from kefu.conversations.hooks import BULK_SQL, BulkSql, record_bulk_sql
from kefu.conversations.models import Conversation

_COLUMNS = [c.name for c in cast(Table, Conversation.__table__).columns]

# Column arrays (unnest) keep the text the same for every batch size: prepared once per
# connection. `v`: one row per visitor written (n messages, and the last one's columns);
# `u`: one row per message, k its place among its visitor's (1..n), in batch order. The only
# text formatted in is the model's own column names and the hooks' SQL; every value is bound.
_HEAD = (
    "WITH locked AS (SELECT id, visitor_id, last_visitor_message_at AS prev_visitor_at"  # noqa: S608
    " FROM conversations WHERE visitor_id = ANY(CAST(:visitor_ids AS BIGINT[]))"
    " AND state != 'ended' ORDER BY id FOR UPDATE),"
    # The visitors' rows matched to their conversations first (by visitor), then the UPDATE
    # joins by primary key: no visitor-by-visitor comparison against every conversation.
    " v AS (SELECT locked.id, locked.prev_visitor_at, u.* FROM locked JOIN"
    " unnest(CAST(:v_visitors AS BIGINT[]), CAST(:v_n AS INTEGER[]),"
    " CAST(:v_at AS TIMESTAMPTZ[]), CAST(:v_kinds AS VARCHAR[]), CAST(:v_senders AS VARCHAR[]),"
    " CAST(:v_previews AS VARCHAR[]), CAST(:v_visitor_at AS TIMESTAMPTZ[]))"
    " AS u(visitor_id, n, at, kind, sender, preview, visitor_at)"
    " ON u.visitor_id = locked.visitor_id),"
    " c AS (UPDATE conversations SET last_seq = conversations.last_seq + v.n,"
    " last_message_at = v.at, last_message_kind = v.kind, last_message_sender = v.sender,"
    " last_message_preview = v.preview, last_visitor_message_at = v.visitor_at FROM v"
    " WHERE conversations.id = v.id"
    " AND conversations.state = 'ongoing' AND conversations.last_visitor_message_at IS NOT NULL"
    f" RETURNING {', '.join('conversations.' + name for name in _COLUMNS)},"
    " v.n AS batch_n, v.prev_visitor_at),"
    " m AS (INSERT INTO messages (tenant_id, conversation_id, seq, sender_type, sender_id,"
    " sender_name, kind, body, whisper, client_msg_id, content_digest, created_at)"
    " SELECT c.tenant_id, c.id, c.last_seq - c.batch_n + u.k, 'visitor', u.visitor_id,"
    " u.sender_name, u.kind, u.body, false, u.client_msg_id, u.digest, CAST(:now AS TIMESTAMPTZ)"
    " FROM unnest(CAST(:visitors AS BIGINT[]), CAST(:ks AS INTEGER[]),"
    " CAST(:sender_names AS VARCHAR[]), CAST(:kinds AS VARCHAR[]), CAST(:bodies AS JSON[]),"
    " CAST(:client_msg_ids AS VARCHAR[]), CAST(:digests AS VARCHAR[])) WITH ORDINALITY"
    " AS u(visitor_id, k, sender_name, kind, body, client_msg_id, digest, ord)"
    " JOIN c ON c.visitor_id = u.visitor_id ORDER BY u.ord"
    " RETURNING id, tenant_id, conversation_id, seq, created_at),"
    " e AS (INSERT INTO conversation_events (tenant_id, conversation_id, seq, name,"
    " message_id, data, staff_only, created_at)"
    " SELECT tenant_id, conversation_id, seq, 'message.created', id, '{}', false, created_at"
    " FROM m ORDER BY id)"
)
_SELECT = (
    f" SELECT {', '.join('c.' + name for name in _COLUMNS)}, c.prev_visitor_at,"  # noqa: S608
    " ARRAY(SELECT m.id FROM m WHERE m.conversation_id = c.id ORDER BY m.seq)"
)
_STATEMENTS: dict[tuple[BulkSql, ...], TextClause] = {}


def _statement(parts: tuple[BulkSql, ...]) -> TextClause:
    """The statement with the hooks' parts (`hooks.BulkSql`), built once per set of parts."""
    stmt = _STATEMENTS.get(parts)
    if stmt is None:
        ctes = "".join(f", {p.name} AS ({p.cte})" for p in parts if p.cte)
        columns = "".join(f", ({p.column}) AS {p.name}" for p in parts if p.column)
        stmt = _STATEMENTS[parts] = text(_HEAD + ctes + _SELECT + columns + " FROM c")
    return stmt


@dataclass(frozen=True, slots=True)
class Send:
    """One message to write: its visitor, and the row's own columns."""

    visitor_id: int
    sender_name: str
    kind: str
    body: dict[str, Any]
    client_msg_id: str
    digest: str
    last: dict[str, Any]  # the conversation's last-message columns it sets (and `later`'s)


@dataclass(slots=True)
class Written:
    """A conversation the statement wrote: as stored, but for its last-visitor time, which is
    the one before (the hooks see it); its new last seq; its new messages' ids in seq order."""

    conversation: Conversation
    last_seq: int
    message_ids: list[int]


async def write(db: AsyncSession, sends: list[Send], now: datetime) -> dict[int, Written]:
    """Write `sends` whose visitor's open conversation is ongoing (and not at its first visitor
    message). Returns the written conversations by visitor."""
    n: dict[int, int] = {}
    last: dict[int, dict[str, Any]] = {}
    ks: list[int] = []
    for s in sends:
        n[s.visitor_id] = n.get(s.visitor_id, 0) + 1
        ks.append(n[s.visitor_id])
        last[s.visitor_id] = s.last
    visitors = list(last)
    parts = tuple(BULK_SQL)
    params: dict[str, Any] = {}
    for part in parts:
        params |= part.params
    stored = await db.execute(
        _statement(parts),
        params
        | {
            "visitor_ids": sorted(visitors),
            "v_visitors": visitors,
            "v_n": [n[v] for v in visitors],
            "v_at": [last[v]["last_message_at"] for v in visitors],
            "v_kinds": [last[v]["last_message_kind"] for v in visitors],
            "v_senders": [last[v]["last_message_sender"] for v in visitors],
            "v_previews": [last[v]["last_message_preview"] for v in visitors],
            "v_visitor_at": [last[v]["last_visitor_message_at"] for v in visitors],
            "visitors": [s.visitor_id for s in sends],
            "ks": ks,
            "sender_names": [s.sender_name for s in sends],
            "kinds": [s.kind for s in sends],
            "bodies": [json.dumps(s.body) for s in sends],  # as SQLAlchemy's JSON type writes it
            "client_msg_ids": [s.client_msg_id for s in sends],
            "digests": [s.digest for s in sends],
            "now": now,
        },
    )
    rows = stored.all()
    width = len(_COLUMNS)
    convs = bulk_sqlite.conversations([tuple(row[:width]) for row in rows], db.get_bind().dialect)
    out: dict[int, Written] = {}
    for conv, row in zip(convs, rows, strict=True):
        set_committed_value(conv, "last_visitor_message_at", row[width])
        out[conv.visitor_id] = Written(conv, conv.last_seq, list(row[width + 1]))
    at = width + 2
    for part in parts:
        # Every part ran for every conversation written; a column's values go with it.
        values = [row[at] for row in rows] if part.column else [None] * len(rows)
        at += 1 if part.column else 0
        record_bulk_sql(db, part.name, {c.id: v for c, v in zip(convs, values, strict=True)})
    return out
