"""The per-conversation event log: sequence numbers, stored events and their delivery frames."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from fastapi.encoders import jsonable_encoder
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from kefu.channels.models import Widget
from kefu.conversations.models import Conversation, ConversationEvent, Message
from kefu.conversations.presenters import agent_alias_for, message_view, messages_view
from kefu.core import clock
from kefu.core.db import kept_get
from kefu.events.bus import emit
from kefu.events.types import ChatEvent
from kefu.routing.models import SkillGroupMember

# A client further behind than this reloads over REST instead of replaying (docs/protocol.md).
RESUME_LIMIT = 200
_INSERT_EVENT = insert(cast(Table, ConversationEvent.__table__))


async def next_seq(db: AsyncSession, conv: Conversation) -> int:
    """Take the next sequence number; the UPDATE locks the row until commit (both backends)."""
    seq = await db.scalar(
        update(Conversation)
        .where(Conversation.id == conv.id)
        .values(last_seq=Conversation.last_seq + 1)
        .returning(Conversation.last_seq)
        # `conv` is updated below; the default "evaluate" sync walks the whole identity map
        # (every conversation the session holds, e.g. a drain's queue) on each call.
        .execution_options(synchronize_session=False)
    )
    assert seq is not None
    conv.last_seq = int(seq)
    return conv.last_seq


def visitor_data(name: str, data: dict[str, Any], show_agent: bool) -> dict[str, Any]:
    """The visitor's view of a stored conversation event."""
    out = dict(data)
    if "conversation" in out:
        conv = dict(out["conversation"])
        conv.pop("unread", None)
        if not show_agent:
            conv["agent"] = None
        out["conversation"] = conv
    if "agent" in out and not show_agent:
        out["agent"] = None
    return out


def frame(conv_id: int, seq: int, name: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    return plain_frame(conv_id, seq, name, plain_json(data), at.isoformat())


def plain_frame(conv_id: int, seq: int, name: str, data: dict[str, Any], at: str) -> dict[str, Any]:
    """An event frame of values that are plain JSON already (not walked again)."""
    return {
        "type": "event",
        "conversation_id": conv_id,
        "seq": seq,
        "name": name,
        "data": data,
        "at": at,
    }


async def _show_agent(db: AsyncSession, conv: Conversation) -> bool:
    if conv.widget_id is None:
        return True
    widget = await kept_get(db, Widget, conv.widget_id)
    return widget.show_agent_nickname if widget is not None else True


async def broadcast_members(db: AsyncSession, conv: Conversation) -> list[int]:
    """Everyone who shares a broadcast-mode conversation: its group's members (§5.12 b)."""
    if conv.skill_group_id is None:
        return []
    rows = await db.scalars(
        select(SkillGroupMember.user_id).where(
            SkillGroupMember.tenant_id == conv.tenant_id,
            SkillGroupMember.skill_group_id == conv.skill_group_id,
        )
    )
    return list(rows)


async def append(
    db: AsyncSession,
    conv: Conversation,
    name: str,
    data: dict[str, Any] | None = None,
    *,
    message: Message | None = None,
    staff_only: bool = False,
    extra_agent_ids: tuple[int, ...] = (),
) -> int:
    """Log one event under the next seq and queue its delivery for after commit."""
    now = clock.now()
    seq = message.seq if message is not None else await next_seq(db, conv)
    stored = plain_json(data or {})
    # A Core INSERT: no ORM object, no unit-of-work flush per event (every message logs one).
    await db.execute(
        _INSERT_EVENT,
        {
            "tenant_id": conv.tenant_id,
            "conversation_id": conv.id,
            "seq": seq,
            "name": name,
            "message_id": message.id if message is not None else None,
            "data": stored,
            "staff_only": staff_only,
            "created_at": now,
        },
    )
    staff_data, visitor_payload = stored, None
    if message is not None:
        staff_data = {"message": plain_json(await message_view(db, message, "staff"))}
        if not staff_only:
            alias = await agent_alias_for(db, conv.widget_id)
            visitor_payload = {
                "message": plain_json(await message_view(db, message, "visitor", alias))
            }
    elif not staff_only:
        visitor_payload = visitor_data(name, stored, await _show_agent(db, conv))
    agents = [a for a in (conv.agent_id, *extra_agent_ids) if a is not None]
    if conv.broadcast:
        agents += await broadcast_members(db, conv)
    at = now.isoformat()  # the payloads above are plain JSON already
    emit(
        db,
        ChatEvent(
            tenant_id=conv.tenant_id,
            conversation_id=conv.id,
            visitor_id=conv.visitor_id,
            agent_ids=sorted(set(agents)),
            staff_frame=plain_frame(conv.id, seq, name, staff_data, at),
            visitor_frame=(
                plain_frame(conv.id, seq, name, visitor_payload, at)
                if visitor_payload is not None
                else None
            ),
        ),
    )
    return seq


def message_event(
    conv: Conversation,
    message: Message,
    agent_ids: list[int],
    staff_view: dict[str, Any],
    visitor_view: dict[str, Any] | None,
) -> ChatEvent:
    """The `message.created` chat event of a message whose views are already built and plain
    JSON values (`plain_view`): what `append` emits for it."""
    name, at = "message.created", staff_view["created_at"]
    staff = plain_frame(conv.id, message.seq, name, {"message": staff_view}, at)
    visitor: dict[str, Any] | None = None
    if visitor_view is staff_view:
        visitor = staff  # one frame for both (the hub then encodes it once)
    elif visitor_view is not None:
        visitor = plain_frame(conv.id, message.seq, name, {"message": visitor_view}, at)
    return ChatEvent.model_construct(  # built from values this code made
        tenant_id=conv.tenant_id,
        conversation_id=conv.id,
        visitor_id=conv.visitor_id,
        agent_ids=agent_ids,
        staff_frame=staff,
        visitor_frame=visitor,
    )


async def append_many(
    db: AsyncSession,
    items: list[tuple[Conversation, str, dict[str, Any], tuple[int, ...]]],
    *,
    seqs_stored: bool = False,
) -> list[int]:
    """`append` for many (conversation, name, data, extra_agent_ids) non-message events at once.

    The caller holds every conversation's row (a drain locks them) and has its current
    `last_seq` loaded: each event takes `last_seq + 1` in memory, written by the next flush with
    the event rows (no per-event round trip). Widgets are read once for the whole batch.
    `seqs_stored`: the caller's own UPDATE of the rows already stored `last_seq + 1` (one
    statement fewer; one event per conversation).
    """
    now = clock.now()
    at = jsonable_encoder(now)
    widget_ids = {c.widget_id for c, *_ in items if c.widget_id is not None}
    shows: dict[int, bool] = {}
    if widget_ids:
        rows = await db.execute(
            select(Widget.id, Widget.show_agent_nickname).where(Widget.id.in_(widget_ids))
        )
        shows = {wid: bool(show) for wid, show in rows.all()}
    rows_out: list[dict[str, Any]] = []
    seqs: list[int] = []
    for conv, name, data, extra_agent_ids in items:
        seq = conv.last_seq + 1
        set_committed_value(conv, "last_seq", seq)  # stored below, with the others
        seqs.append(seq)
        stored = plain_json(data)
        rows_out.append(
            {
                "tenant_id": conv.tenant_id,
                "conversation_id": conv.id,
                "seq": seq,
                "name": name,
                "message_id": None,
                "data": stored,
                "staff_only": False,
                "created_at": now,
            }
        )
        show = shows.get(conv.widget_id, True) if conv.widget_id is not None else True
        agents = [a for a in (conv.agent_id, *extra_agent_ids) if a is not None]
        if conv.broadcast:
            agents += await broadcast_members(db, conv)
        head = {"type": "event", "conversation_id": conv.id, "seq": seq, "name": name}
        emit(
            db,
            # Built from values this code made: validating hundreds per pass cost more than
            # writing them.
            ChatEvent.model_construct(
                tenant_id=conv.tenant_id,
                conversation_id=conv.id,
                visitor_id=conv.visitor_id,
                agent_ids=sorted(set(agents)),
                # The same frames as `frame()`, from the already encoded data.
                staff_frame={**head, "data": stored, "at": at},
                visitor_frame={**head, "data": visitor_data(name, stored, show), "at": at},
            ),
        )
    if rows_out and not seqs_stored:
        table = cast(Table, Conversation.__table__)
        await db.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(last_seq=bindparam("b_seq")),
            [{"b_id": r["conversation_id"], "b_seq": r["seq"]} for r in rows_out],
        )
    if rows_out:
        await db.execute(insert(ConversationEvent), rows_out)  # one executemany
    return seqs


def plain_view(view: dict[str, Any]) -> dict[str, Any]:
    """A message view (`presenters.messages_view`) made plain JSON in place, without walking
    what is known to be plain already: of its values only the body and the time need it."""
    view["body"] = plain_json(view["body"])
    view["created_at"] = view["created_at"].isoformat()
    return view


def plain_json(value: Any) -> Any:
    """`jsonable_encoder` for the plain values event payloads hold (dicts, lists, scalars,
    datetimes), with the same result; anything else goes to `jsonable_encoder`."""
    kind = type(value)
    if value is None or kind in (str, int, float, bool):
        return value
    if kind is dict:
        return {k: plain_json(v) for k, v in value.items()}
    if kind in (list, tuple):
        return [plain_json(v) for v in value]
    if kind in (datetime, date):
        return value.isoformat()
    return jsonable_encoder(value)


async def replay(
    db: AsyncSession, conv: Conversation, after_seq: int, audience: str
) -> list[dict[str, Any]] | None:
    """Frames after `after_seq` in order, or None when the client must resync."""
    if conv.last_seq - after_seq > RESUME_LIMIT or after_seq > conv.last_seq:
        return None
    query = select(ConversationEvent).where(
        ConversationEvent.conversation_id == conv.id, ConversationEvent.seq > after_seq
    )
    if audience == "visitor":
        query = query.where(ConversationEvent.staff_only.is_(False))
    events = list(await db.scalars(query.order_by(ConversationEvent.seq)))
    msg_ids = [e.message_id for e in events if e.message_id is not None]
    views: dict[int, dict[str, Any]] = {}
    if msg_ids:
        msgs = await db.scalars(select(Message).where(Message.id.in_(msg_ids)))
        alias = await agent_alias_for(db, conv.widget_id) if audience == "visitor" else None
        views_list = await messages_view(
            db, msgs, "staff" if audience == "staff" else "visitor", alias
        )
        for view in views_list:
            views[view["id"]] = view
    show_agent = await _show_agent(db, conv) if audience == "visitor" else True
    frames = []
    for e in events:
        if e.message_id is not None:
            data: dict[str, Any] = {"message": views[e.message_id]}
        elif audience == "visitor":
            data = visitor_data(e.name, e.data, show_agent)
        else:
            data = e.data
        frames.append(frame(conv.id, e.seq, e.name, data, e.created_at))
    return frames
