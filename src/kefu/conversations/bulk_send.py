"""Many visitors' messages into their ongoing conversations, written set-wise.

A group-committed batch of socket sends (`kefu.chat.batcher`) is mostly visitors writing into
conversations an agent already holds. Sent one by one, each costs four statements (find the
conversation, take the next seq, insert the message, insert its event), and at a few hundred
messages a second the Python around those statements is the largest part of a message's CPU.
Here a run of such sends costs four statements in all: one read of the conversations (locked
on PostgreSQL), one executemany UPDATE of their seq and last-message columns, one of the
messages and one of the events. On PostgreSQL the last three are one statement; on SQLite they
run on the sqlite3 connection itself (`bulk_sqlite`). The result is what `visitor_send` stores
and emits, message by message, in the same order.

Only the common case is taken: the conversation is open and ongoing, the visitor wrote before
(a first message may greet), and the message carries no attachment. Anything else is left to
`visitor_send` (the caller runs it after this run).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, any_, bindparam, literal_column, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.instrumentation import manager_of_class

from kefu.conversations import bulk_sqlite, log
from kefu.conversations.actions import last_message_fields
from kefu.conversations.hooks import HOOKS
from kefu.conversations.models import Conversation, Message
from kefu.conversations.presenters import messages_view
from kefu.core import clock
from kefu.core.db import sqlite_call
from kefu.events.bus import emit
from kefu.visitors.actions import VisitorPrincipal

# PostgreSQL: the conversations' UPDATE, the messages and their `message.created` events in one
# statement (one round trip instead of three; every part of a WITH runs). Column arrays keep
# the statement the same for every batch size, so it is prepared once; the events are made
# from what the messages' INSERT returns.
_WRITE_BATCH = text(
    "WITH c AS (UPDATE conversations SET last_seq = v.last_seq, last_message_at = v.at,"
    " last_message_kind = v.kind, last_message_sender = v.sender,"
    " last_message_preview = v.preview, last_visitor_message_at = v.visitor_at"
    " FROM unnest(CAST(:c_ids AS BIGINT[]), CAST(:c_seqs AS INTEGER[]),"
    " CAST(:c_at AS TIMESTAMPTZ[]), CAST(:c_kinds AS VARCHAR[]), CAST(:c_senders AS VARCHAR[]),"
    " CAST(:c_previews AS VARCHAR[]), CAST(:c_visitor_at AS TIMESTAMPTZ[]))"
    " AS v(id, last_seq, at, kind, sender, preview, visitor_at)"
    " WHERE conversations.id = v.id),"
    " m AS (INSERT INTO messages (tenant_id, conversation_id, seq, sender_type, sender_id,"
    " sender_name, kind, body, whisper, client_msg_id, content_digest, created_at)"
    " SELECT * FROM unnest(CAST(:tenant_ids AS BIGINT[]), CAST(:conversation_ids AS BIGINT[]),"
    " CAST(:seqs AS INTEGER[]), CAST(:sender_types AS VARCHAR[]), CAST(:sender_ids AS BIGINT[]),"
    " CAST(:sender_names AS VARCHAR[]), CAST(:kinds AS VARCHAR[]), CAST(:bodies AS JSON[]),"
    " CAST(:whispers AS BOOLEAN[]), CAST(:client_msg_ids AS VARCHAR[]),"
    " CAST(:digests AS VARCHAR[]), CAST(:created AS TIMESTAMPTZ[]))"
    " RETURNING id, tenant_id, conversation_id, seq, whisper, created_at)"
    " INSERT INTO conversation_events (tenant_id, conversation_id, seq, name, message_id, data,"
    " staff_only, created_at)"
    " SELECT tenant_id, conversation_id, seq, 'message.created', id, '{}', whisper, created_at"
    " FROM m RETURNING message_id, conversation_id, seq"
)
# Built once, the visitor ids an expanding parameter: building the IN list's expressions and
# the statement's cache key for every batch cost more than running it.
_OPEN_OF_MANY = (
    select(Conversation)
    .where(
        Conversation.visitor_id.in_(bindparam("visitor_ids", expanding=True)),
        # As `actions._OPEN_OF`: not a bound value (the partial index's WHERE).
        Conversation.state != literal_column("'ended'"),
    )
    .order_by(Conversation.id)
    # Rows this session already holds get the values just read (the seq especially).
    .execution_options(populate_existing=True)
)
# PostgreSQL, rows locked: the ids as one array (`= ANY`), so that the statement's text is the
# same for every batch size and is prepared once per connection. An expanding IN list is a new
# text for each length, prepared again each time it falls out of the statement cache (100).
_OPEN_OF_LOCKED = (
    select(Conversation)
    .where(
        Conversation.visitor_id == any_(bindparam("visitor_ids", type_=ARRAY(BigInteger))),
        Conversation.state != literal_column("'ended'"),
    )
    .order_by(Conversation.id)  # the lock order
    .execution_options(populate_existing=True)
    .with_for_update()
)
_NEW_MESSAGE = manager_of_class(Message).new_instance


def _message(values: dict[str, Any]) -> Message:
    """The stored row as a `Message` (transient: never added to a session, only read), made
    without the ORM constructor, whose attribute events cost ten times this (30 µs a message)."""
    message = _NEW_MESSAGE()
    message.__dict__.update(values)
    return message


def _columns(last: list[dict[str, Any]], rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """`_WRITE_BATCH`'s arrays, one per column: the conversations' new values (their `b_*`
    parameters) and the message rows."""
    return {
        "c_ids": [c["b_id"] for c in last],
        "c_seqs": [c["b_last_seq"] for c in last],
        "c_at": [c["b_last_message_at"] for c in last],
        "c_kinds": [c["b_last_message_kind"] for c in last],
        "c_senders": [c["b_last_message_sender"] for c in last],
        "c_previews": [c["b_last_message_preview"] for c in last],
        "c_visitor_at": [c["b_last_visitor_message_at"] for c in last],
        "tenant_ids": [r["tenant_id"] for r in rows],
        "conversation_ids": [r["conversation_id"] for r in rows],
        "seqs": [r["seq"] for r in rows],
        "sender_types": [r["sender_type"] for r in rows],
        "sender_ids": [r["sender_id"] for r in rows],
        "sender_names": [r["sender_name"] for r in rows],
        "kinds": [r["kind"] for r in rows],
        "bodies": [json.dumps(r["body"]) for r in rows],  # as SQLAlchemy's JSON type writes it
        "whispers": [r["whisper"] for r in rows],
        "client_msg_ids": [r["client_msg_id"] for r in rows],
        "digests": [r["content_digest"] for r in rows],
        "created": [r["created_at"] for r in rows],
    }


@dataclass(frozen=True, slots=True)
class VisitorMessage:
    vp: VisitorPrincipal  # may be detached (a socket's rows)
    client_msg_id: str
    kind: str
    body: dict[str, Any]
    content: str  # digest(kind, body)


@dataclass(slots=True)
class Stored:
    message: Message
    visitor_view: dict[str, Any]  # the message as its sender's ack shows it
    events: int  # events this message emitted (in emission order, after the previous one's)


def _holds_conversations(db: AsyncSession) -> bool:
    """Whether the session has changes not yet written, or holds conversation rows: then the
    ORM reads the conversations (flushing first, refreshing those it holds), and the rows this
    batch writes stay current in the session. Otherwise, on SQLite, they are read without it
    (`bulk_sqlite.conversations`): the common batch of sends only."""
    if db.new or db.dirty or db.deleted:
        return True
    return any(isinstance(row, Conversation) for row in db.identity_map.values())


def takes(kind: str, body: dict[str, Any]) -> bool:
    """Whether a message can go this way at all (before its conversation is known)."""
    return "attachment_id" not in body


async def visitor_send_many(db: AsyncSession, items: list[VisitorMessage]) -> list[Stored | None]:
    """Store the messages of `items` whose conversation is open and ongoing; None for the
    others (the caller sends them one by one, after these). The caller's batch trusts the
    unique index for idempotency: a repeated `client_msg_id` fails the whole statement."""
    visitor_ids = sorted({it.vp.visitor.id for it in items})
    dialect = db.get_bind().dialect
    pg = dialect.name == "postgresql"
    if pg or _holds_conversations(db):
        # PostgreSQL: the seq is taken in memory below, so the rows stay locked until commit.
        query = _OPEN_OF_LOCKED if pg else _OPEN_OF_MANY
        found = list(await db.scalars(query, {"visitor_ids": visitor_ids}))
    else:
        stored_rows = await sqlite_call(db, bulk_sqlite.open_conversations, visitor_ids)
        found = bulk_sqlite.conversations(stored_rows, dialect)
    open_of = {c.visitor_id: c for c in found}

    taken: list[tuple[int, Conversation]] = []
    for i, it in enumerate(items):
        conv = open_of.get(it.vp.visitor.id)
        if (
            conv is not None
            and conv.state == "ongoing"
            and conv.last_visitor_message_at is not None
            and takes(it.kind, it.body)
        ):
            taken.append((i, conv))
    out: list[Stored | None] = [None] * len(items)
    if not taken:
        return out

    now = clock.now()
    seqs: dict[int, int] = {}
    rows: list[dict[str, Any]] = []
    last: dict[int, dict[str, Any]] = {}
    fields: list[tuple[dict[str, Any], dict[str, Any]]] = []  # per message, for the loop below
    for i, conv in taken:
        it = items[i]
        seq = seqs[conv.id] = seqs.get(conv.id, conv.last_seq) + 1
        values, later = last_message_fields(it.kind, it.body, "visitor", now)
        fields.append((values, later))
        last[conv.id] = {"b_id": conv.id, "b_last_seq": seq} | {
            "b_" + k: v for k, v in (values | later).items()
        }
        rows.append(
            {
                "tenant_id": conv.tenant_id,
                "conversation_id": conv.id,
                "seq": seq,
                "sender_type": "visitor",
                "sender_id": it.vp.visitor.id,
                "sender_name": it.vp.visitor.name[:50],
                "kind": it.kind,
                "body": it.body,
                "whisper": False,
                "client_msg_id": it.client_msg_id,
                "content_digest": it.content,
                "segment_id": None,
                "created_at": now,
                "recalled_at": None,
            }
        )
    if pg:
        stored = await db.execute(_WRITE_BATCH, _columns(list(last.values()), rows))
        ids = {(c, q): mid for mid, c, q in stored.all()}
    else:
        ids = await sqlite_call(db, bulk_sqlite.write, list(last.values()), rows)
    messages = [_message({**row, "id": ids[row["conversation_id"], row["seq"]]}) for row in rows]
    # Plain JSON once here: the frames and the ack hold them as they are. A visitor's own new
    # message with nothing attached looks the same to the staff and to the visitor (no agent
    # alias, not recalled, not a whisper): one view, one frame for both (`log.message_event`).
    views = [log.plain_view(v) for v in await messages_view(db, messages, "staff")]

    events: list[Any] = db.info.setdefault("events", [])
    for (i, conv), msg, view, (values, later) in zip(taken, messages, views, fields, strict=True):
        start = len(events)
        set_committed_value(conv, "last_seq", msg.seq)
        for key, value in values.items():
            set_committed_value(conv, key, value)
        agents = [conv.agent_id] if conv.agent_id is not None else []
        if conv.broadcast:
            agents += await log.broadcast_members(db, conv)
        emit(db, log.message_event(conv, msg, sorted(set(agents)), view, view))
        for _, hook in HOOKS.after_message:
            await hook(db, conv, msg)
        for key, value in later.items():
            set_committed_value(conv, key, value)
        out[i] = Stored(message=msg, visitor_view=view, events=len(events) - start)
    return out
