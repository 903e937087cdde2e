"""Many visitors' messages into their ongoing conversations, written set-wise.

A group-committed batch of socket sends (`kefu.chat.batcher`) is mostly visitors writing into
conversations an agent already holds. Sent one by one, each costs four statements (find the
conversation, take the next seq, insert the message, insert its event), and at a few hundred
messages a second the Python around those statements is the largest part of a message's CPU.
Here a run of such sends is written set-wise. On PostgreSQL it is one statement (`bulk_pg`:
lock, seqs, conversations, messages and events; one round trip). On SQLite the conversations
are read, the seqs taken here, then one executemany UPDATE of the conversations, one INSERT of
the messages and one of the events run on the sqlite3 connection itself (`bulk_sqlite`). The
result is what `visitor_send` stores and emits, message by message, in the same order.

Only the common case is taken: the conversation is open and ongoing, the visitor wrote before
(a first message may greet), and the message carries no attachment. Anything else is left to
`visitor_send` (the caller runs it after this run).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.orm.util import identity_key

from kefu.conversations import bulk_pg, bulk_sqlite, log
from kefu.conversations.actions import last_message_fields
from kefu.conversations.hooks import HOOKS
from kefu.conversations.models import Conversation, Message
from kefu.conversations.presenters import messages_view
from kefu.core import clock
from kefu.core.db import sqlite_call
from kefu.events.bus import emit
from kefu.visitors.actions import VisitorPrincipal

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
_NEW_MESSAGE = manager_of_class(Message).new_instance
_CONVERSATION_KEYS = [c.key for c in cast(Table, Conversation.__table__).columns]


def _message(values: dict[str, Any]) -> Message:
    """The stored row as a `Message` (transient: never added to a session, only read), made
    without the ORM constructor, whose attribute events cost ten times this (30 µs a message)."""
    message = _NEW_MESSAGE()
    message.__dict__.update(values)
    return message


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
    now = clock.now()
    if db.get_bind().dialect.name == "postgresql":
        placed = await _place_pg(db, items, now)
    else:
        placed = await _place_sqlite(db, items, now)
    out: list[Stored | None] = [None] * len(items)
    if not placed:
        return out
    messages = [_message(p.row) for p in placed]
    # Plain JSON once here: the frames and the ack hold them as they are. A visitor's own new
    # message with nothing attached looks the same to the staff and to the visitor (no agent
    # alias, not recalled, not a whisper): one view, one frame for both (`log.message_event`).
    views = [log.plain_view(v) for v in await messages_view(db, messages, "staff")]

    events: list[Any] = db.info.setdefault("events", [])
    for p, msg, view in zip(placed, messages, views, strict=True):
        conv = p.conv
        start = len(events)
        set_committed_value(conv, "last_seq", msg.seq)
        for key, value in p.values.items():
            set_committed_value(conv, key, value)
        agents = [conv.agent_id] if conv.agent_id is not None else []
        if conv.broadcast:
            agents += await log.broadcast_members(db, conv)
        emit(db, log.message_event(conv, msg, sorted(set(agents)), view, view))
        for _, hook in HOOKS.after_message:
            await hook(db, conv, msg)
        for key, value in p.later.items():
            set_committed_value(conv, key, value)
        out[p.index] = Stored(message=msg, visitor_view=view, events=len(events) - start)
    return out


@dataclass(slots=True)
class _Placed:
    """A message written: its item, its conversation (current, as the hooks must see it), the
    stored row and the conversation's last-message columns it set (`later`: after the hooks)."""

    index: int
    conv: Conversation
    row: dict[str, Any]
    values: dict[str, Any]
    later: dict[str, Any]


def _row(conv: Conversation, it: VisitorMessage, seq: int, now: datetime) -> dict[str, Any]:
    return {
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


async def _place_pg(db: AsyncSession, items: list[VisitorMessage], now: datetime) -> list[_Placed]:
    """PostgreSQL: the read, the seqs and the writes in one statement (`bulk_pg`)."""
    taken = [(i, it) for i, it in enumerate(items) if takes(it.kind, it.body)]
    if not taken:
        return []
    fields = [last_message_fields(it.kind, it.body, "visitor", now) for _, it in taken]
    if db.new or db.dirty or db.deleted:
        await db.flush()  # the statement must see what this batch's earlier sends wrote
    written = await bulk_pg.write(
        db,
        [
            bulk_pg.Send(
                visitor_id=it.vp.visitor.id,
                sender_name=it.vp.visitor.name[:50],
                kind=it.kind,
                body=it.body,
                client_msg_id=it.client_msg_id,
                digest=it.content,
                last=values | later,
            )
            for (_, it), (values, later) in zip(taken, fields, strict=True)
        ],
        now,
    )
    placed: list[_Placed] = []
    done: dict[int, int] = {}  # visitor → its messages placed so far
    for (i, it), (values, later) in zip(taken, fields, strict=True):
        w = written.get(it.vp.visitor.id)
        if w is None:
            continue
        k = done.get(it.vp.visitor.id, 0)
        done[it.vp.visitor.id] = k + 1
        if k == 0:
            w.conversation = _held(db, w.conversation)
        conv = w.conversation
        # The stored last_seq is the last of these messages' (the loop after moves it along).
        seq = w.last_seq - len(w.message_ids) + 1 + k
        row = _row(conv, it, seq, now) | {"id": w.message_ids[k]}
        placed.append(_Placed(i, conv, row, values, later))
    return placed


def _held(db: AsyncSession, conv: Conversation) -> Conversation:
    """The session's own row of `conv` if it holds one (an earlier send of this batch loaded
    it), brought up to the stored values; else `conv`, which stays out of the session."""
    held = db.identity_map.get(identity_key(Conversation, conv.id))
    if held is None:
        return conv
    for key in _CONVERSATION_KEYS:
        set_committed_value(held, key, conv.__dict__[key])
    return held


async def _place_sqlite(
    db: AsyncSession, items: list[VisitorMessage], now: datetime
) -> list[_Placed]:
    """SQLite: the conversations read, the seqs taken here, then the writes (`bulk_sqlite`)."""
    visitor_ids = sorted({it.vp.visitor.id for it in items})
    if _holds_conversations(db):
        found = list(await db.scalars(_OPEN_OF_MANY, {"visitor_ids": visitor_ids}))
    else:
        stored_rows = await sqlite_call(db, bulk_sqlite.open_conversations, visitor_ids)
        found = bulk_sqlite.conversations(stored_rows, db.get_bind().dialect)
    open_of = {c.visitor_id: c for c in found}

    placed: list[_Placed] = []
    seqs: dict[int, int] = {}
    last: dict[int, dict[str, Any]] = {}
    for i, it in enumerate(items):
        conv = open_of.get(it.vp.visitor.id)
        if (
            conv is None
            or conv.state != "ongoing"
            or conv.last_visitor_message_at is None
            or not takes(it.kind, it.body)
        ):
            continue
        seq = seqs[conv.id] = seqs.get(conv.id, conv.last_seq) + 1
        values, later = last_message_fields(it.kind, it.body, "visitor", now)
        last[conv.id] = {"b_id": conv.id, "b_last_seq": seq} | {
            "b_" + k: v for k, v in (values | later).items()
        }
        placed.append(_Placed(i, conv, _row(conv, it, seq, now), values, later))
    if placed:
        rows = [p.row for p in placed]
        ids = await sqlite_call(db, bulk_sqlite.write, list(last.values()), rows)
        for row in rows:
            row["id"] = ids[row["conversation_id"], row["seq"]]
    return placed
