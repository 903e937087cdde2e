"""Conversation operations: open, send, recall, whisper, read, end (SPEC §3, §4); assigning
is `kefu.conversations.assignment`.

Every action runs in the caller's transaction, writes, and logs sequence-numbered events that
go out after commit. Send is idempotent on (sender, client_msg_id).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, insert, inspect, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from kefu.accounts.models import User
from kefu.attachments.actions import attachment_for_send
from kefu.attachments.models import Attachment
from kefu.channels.models import Association, Widget
from kefu.conversations import dispatch, log
from kefu.conversations.hooks import HOOKS, Ending
from kefu.conversations.models import Conversation, Message, Segment
from kefu.conversations.presenters import conversation_view
from kefu.core import clock
from kefu.core.errors import ApiError
from kefu.events.bus import emit
from kefu.events.types import CapacityFreed, QueueMoved
from kefu.routing.engine import route
from kefu.tenants.models import Tenant
from kefu.visitors.actions import VisitorPrincipal
from kefu.visitors.models import Visitor, VisitorDevice

RECALL_WINDOW = timedelta(minutes=2)
_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
# The send path's statements, built once (Core: no ORM bulk-update machinery, cached compiles).
_INSERT_MESSAGE = insert(_MESSAGES).returning(_MESSAGES.c.id)
_LAST_FIELDS = ("last_message_at", "last_message_kind", "last_message_sender")
_NEXT_SEQ = [
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("p_id"))
    .values(
        last_seq=_CONVERSATIONS.c.last_seq + 1,
        **{k: bindparam("p_" + k) for k in fields},
    )
    .returning(_CONVERSATIONS.c.last_seq)
    for fields in (
        (),  # a whisper: the seq only
        (*_LAST_FIELDS, "last_message_preview"),
        (*_LAST_FIELDS, "last_message_preview", "last_visitor_message_at"),
    )
]
PREVIEW_KINDS = {"text", "system"}


def last_message_fields(
    kind: str, body: dict[str, Any], sender_type: str, now: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The conversation's "last message" columns a message sets (not a whisper's), and those
    set only after the after_message hooks ran (they still see the previous value: a visitor's
    first message)."""
    values = {
        "last_message_at": now,
        "last_message_kind": kind,
        "last_message_sender": sender_type,
        "last_message_preview": (body.get("text") or "")[:100] if kind in PREVIEW_KINDS else "",
    }
    later = {"last_visitor_message_at": now} if sender_type == "visitor" else {}
    return values, later


def digest(kind: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps([kind, body], sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()


def dispatcher_name(tenant: Tenant) -> str:
    """The nickname before any automation settings were saved (see `automations.actions`)."""
    return str((tenant.switches or {}).get("dispatcher_nickname") or "调度员")


async def _replay_or_conflict(
    db: AsyncSession,
    *,
    tenant_id: int,
    sender_type: str,
    sender_id: int,
    client_msg_id: str,
    content: str,
) -> Message | None:
    """The message already sent with this id (a retry), or an error if the content differs."""
    found = await db.scalar(
        select(Message).where(
            Message.tenant_id == tenant_id,
            Message.sender_type == sender_type,
            Message.sender_id == sender_id,
            Message.client_msg_id == client_msg_id,
        )
    )
    if found is not None and found.content_digest != content:
        raise ApiError("client_msg_id_conflict")
    return found


async def log_event(
    db: AsyncSession,
    conv: Conversation,
    name: str,
    *,
    extra_agent_ids: tuple[int, ...] = (),
    **extra: Any,
) -> None:
    """Log a conversation event carrying the conversation's staff view."""
    data = {"conversation": await conversation_view(db, conv, "staff"), **extra}
    await log.append(db, conv, name, data, extra_agent_ids=extra_agent_ids)


_conversation_event = log_event


def queue_changed(db: AsyncSession, tenant_id: int) -> None:
    """The waiting queue changed: announced with its count after commit (queue_announcer)."""
    emit(db, QueueMoved(tenant_id=tenant_id))


_queue_changed = queue_changed


async def _store_message(
    db: AsyncSession,
    conv: Conversation,
    *,
    sender_type: str,
    sender_id: int | None,
    sender_name: str,
    kind: str,
    body: dict[str, Any],
    client_msg_id: str | None = None,
    content: str = "",
    whisper: bool = False,
    segment: Segment | None = None,
) -> Message:
    """Store one message: ONE conversations UPDATE (next seq and, unless a whisper, the last
    message fields) and ONE messages INSERT (Core: the message is not an ORM-tracked row of the
    session), then the event and the after_message hooks."""
    now = clock.now()
    values: dict[str, Any] = {}
    later: dict[str, Any] = {}
    if not whisper:
        values, later = last_message_fields(kind, body, sender_type, now)
    params = {"p_id": conv.id, **{"p_" + k: v for k, v in (values | later).items()}}
    stmt = _NEXT_SEQ[(not whisper) + bool(later)]
    seq = (await db.execute(stmt, params)).scalar()
    assert seq is not None
    set_committed_value(conv, "last_seq", int(seq))
    for key, value in values.items():
        set_committed_value(conv, key, value)
    row = {
        "tenant_id": conv.tenant_id,
        "conversation_id": conv.id,
        "seq": int(seq),
        "sender_type": sender_type,
        "sender_id": sender_id,
        "sender_name": sender_name[:50],
        "kind": kind,
        "body": body,
        "whisper": whisper,
        "client_msg_id": client_msg_id,
        "content_digest": content,
        "segment_id": segment.id if segment is not None else None,
        "created_at": now,
        "recalled_at": None,
    }
    msg_id = (await db.execute(_INSERT_MESSAGE, row)).scalar()
    assert msg_id is not None
    msg = Message(id=int(msg_id), **row)
    await log.append(db, conv, "message.created", message=msg, staff_only=whisper)
    if not whisper:
        for _, hook in HOOKS.after_message:
            await hook(db, conv, msg)
    for key, value in later.items():
        set_committed_value(conv, key, value)
    return msg


async def system_message(db: AsyncSession, conv: Conversation, code: str, text: str) -> Message:
    from kefu.automations.actions import dispatcher_nickname  # builds on this module

    return await _store_message(
        db,
        conv,
        sender_type="system",
        sender_id=None,
        sender_name=await dispatcher_nickname(db, conv.tenant_id),
        kind="system",
        body={"code": code, "text": text},
    )


async def open_conversation(
    db: AsyncSession, vp: VisitorPrincipal, entry: dict[str, Any]
) -> Conversation:
    """A visitor's first message opens a conversation; it waits unless an agent is free."""
    now = clock.now()
    widget = vp.widget
    association_id = widget.association_id
    if entry.get("association"):
        # An association named by the page overrides the widget's own.
        named = await db.scalar(
            select(Association.id).where(
                Association.tenant_id == vp.tenant_id, Association.name == entry["association"]
            )
        )
        association_id = named or association_id
    await dispatch.lock_tenant_dispatch(db, vp.tenant_id)
    waiting = await dispatch.waiting_count(db, vp.tenant_id)
    cap = dispatch.waiting_cap(vp.tenant)
    if waiting >= cap:
        raise ApiError("queue_full")
    await _cap_notice(db, vp.tenant, waiting + 1, cap)
    routed = await route(
        db,
        vp.tenant,
        visitor_id=vp.visitor.id,
        channel="web",
        association_id=association_id,
        entry=entry,
    )
    conv = Conversation(
        tenant_id=vp.tenant_id,
        visitor_id=vp.visitor.id,
        widget_id=widget.id,
        association_id=association_id,
        skill_group_id=routed.skill_group_id,
        target_agent_id=routed.target_agent_id,
        routed_by=routed.routed_by,
        channel="web",
        state="waiting",
        created_at=now,
        queued_at=now,
        entry=entry,
        web_info=dict(vp.visitor.web_info or {}),
    )
    db.add(conv)
    await db.flush()
    await _conversation_event(db, conv, "conversation.created")
    from kefu.automations.actions import enterprise_welcome

    # The widget's own welcome, else the enterprise welcome (§6).
    welcome = widget.welcome_text or await enterprise_welcome(db, vp.tenant_id)
    if welcome:
        await system_message(db, conv, "welcome", welcome)
    for _, hook in HOOKS.after_open:
        await hook(db, conv)
    return conv


async def _cap_notice(db: AsyncSession, tenant: Tenant, waiting: int, cap: int) -> None:
    """Tell admins once when the queue reaches 90 % of the cap, and again when it is full."""
    near = -(-cap * 9 // 10)
    level = "full" if waiting == cap else "near" if waiting == near else None
    if level is not None:
        from kefu.routing.overflow import notify_admins

        data = {"level": level, "waiting": waiting, "cap": cap}
        await notify_admins(db, tenant.id, "queue_cap", data)


# Built once: every visitor message looks its conversation up (building the statement and its
# cache key each time cost more than running it). 'ended' is written into the SQL, not bound:
# SQLite prepares a statement again on every run when a bound value is compared the way a
# partial index's WHERE is (uq_conversations_open_visitor), which cost 8x the lookup itself.
_OPEN_OF = select(Conversation).where(
    Conversation.visitor_id == bindparam("visitor_id"),
    Conversation.state != literal_column("'ended'"),
)


async def open_conversation_of(db: AsyncSession, visitor_id: int) -> Conversation | None:
    conv: Conversation | None = await db.scalar(_OPEN_OF, {"visitor_id": visitor_id})
    return conv


async def _lock_visitor(db: AsyncSession, visitor_id: int) -> None:
    # One visitor's sends run one at a time (PostgreSQL row lock; SQLite has one writer).
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(select(Visitor.id).where(Visitor.id == visitor_id).with_for_update())


async def _resolve_attachment(
    db: AsyncSession,
    *,
    tenant_id: int,
    kind: str,
    body: dict[str, Any],
    uploader_type: str,
    uploader_id: int,
    conv: Conversation | None,
) -> Attachment | None:
    if "attachment_id" not in body:
        return None
    att = await attachment_for_send(
        db,
        tenant_id=tenant_id,
        attachment_id=body["attachment_id"],
        kind=kind,
        uploader_type=uploader_type,
        uploader_id=uploader_id,
    )
    if conv is not None:
        if att.conversation_id not in (None, conv.id):
            raise ApiError("attachment_not_found")
        att.conversation_id = conv.id
    return att


async def _attached(db: AsyncSession, vp: VisitorPrincipal) -> VisitorPrincipal:
    """The principal's rows as this transaction reads them.

    A socket keeps its rows detached between sends, and shares its tenant and widget rows with
    the process's other sockets for up to `PRINCIPAL_TTL`: merged as they are, a conversation
    opened now would be routed by the tenant's switches and the widget's settings of up to that
    long ago (a switch just turned on, e.g. dispatch only in working hours, ignored)."""
    if not inspect(vp.visitor).detached:
        return vp
    visitor = await db.get(Visitor, vp.visitor.id)
    device = await db.get(VisitorDevice, vp.device.id)
    widget = await db.get(Widget, vp.widget.id)
    tenant = await db.get(Tenant, vp.tenant.id)
    if visitor is None or device is None or widget is None or tenant is None:
        raise ApiError("unauthenticated")  # gone since the socket signed in
    return VisitorPrincipal(visitor=visitor, device=device, widget=widget, tenant=tenant)


async def visitor_send(
    db: AsyncSession,
    vp: VisitorPrincipal,
    *,
    client_msg_id: str,
    kind: str,
    body: dict[str, Any],
    entry: dict[str, Any] | None = None,
    trust_unique_index: bool = False,
) -> tuple[Message, bool]:
    """A visitor's message (opening a conversation if none is open); (message, replayed).

    `trust_unique_index`: in an open conversation, skip the idempotency lookup and let the
    unique index refuse a repeated `client_msg_id` (the caller then runs again without it:
    see `kefu.chat.batcher`). `vp` may be detached (a socket's); it is attached when needed."""
    await _lock_visitor(db, vp.visitor.id)
    content = digest(kind, body)

    async def replayed() -> Message | None:
        return await _replay_or_conflict(
            db,
            tenant_id=vp.tenant_id,
            sender_type="visitor",
            sender_id=vp.visitor.id,
            client_msg_id=client_msg_id,
            content=content,
        )

    if not trust_unique_index and (found := await replayed()) is not None:
        return found, True
    await _resolve_attachment(
        db,
        tenant_id=vp.tenant_id,
        kind=kind,
        body=body,
        uploader_type="visitor",
        uploader_id=vp.visitor.id,
        conv=None,
    )
    conv = await open_conversation_of(db, vp.visitor.id)
    created = conv is None
    if conv is None:
        if trust_unique_index and (found := await replayed()) is not None:
            return found, True
        vp = await _attached(db, vp)
        # Blacklisted (§3.9): the message is kept apart and opens nothing; the visitor is not told.
        from kefu.blacklist.actions import intercept

        blocked = await intercept(
            db, vp, client_msg_id=client_msg_id, kind=kind, body=body, content=content
        )
        if blocked is not None:
            return blocked
        conv = await open_conversation(db, vp, entry or dict(vp.device.entry or {}))
    if "attachment_id" in body:
        att = await db.get(Attachment, body["attachment_id"])
        assert att is not None
        att.conversation_id = conv.id
    msg = await _store_message(
        db,
        conv,
        sender_type="visitor",
        sender_id=vp.visitor.id,
        sender_name=vp.visitor.name,
        kind=kind,
        body=body,
        client_msg_id=client_msg_id,
        content=content,
    )
    if created:
        # Imported here: routing builds on this module (greetings, assignment).
        from kefu.routing.queueing import place

        await place(db, conv)
    return msg, False


async def current_segment(db: AsyncSession, conv: Conversation) -> Segment | None:
    return await db.scalar(
        select(Segment)
        .where(Segment.conversation_id == conv.id, Segment.ended_at.is_(None))
        .order_by(Segment.id.desc())
        .limit(1)
    )


async def _lock_conversation(db: AsyncSession, conv: Conversation) -> None:
    await db.refresh(conv, with_for_update=True)


async def agent_send(
    db: AsyncSession,
    agent: User,
    conv: Conversation,
    *,
    client_msg_id: str,
    kind: str,
    body: dict[str, Any],
) -> tuple[Message, bool]:
    """The holding agent's message in an ongoing conversation; (message, replayed)."""
    await _lock_conversation(db, conv)
    content = digest(kind, body)
    found = await _replay_or_conflict(
        db,
        tenant_id=conv.tenant_id,
        sender_type="agent",
        sender_id=agent.id,
        client_msg_id=client_msg_id,
        content=content,
    )
    if found is not None:
        return found, True
    shared = conv.broadcast and agent.id in await log.broadcast_members(db, conv)
    if conv.state != "ongoing" or (conv.agent_id != agent.id and not shared):
        raise ApiError("conversation_not_yours")
    await _resolve_attachment(
        db,
        tenant_id=conv.tenant_id,
        kind=kind,
        body=body,
        uploader_type="agent",
        uploader_id=agent.id,
        conv=conv,
    )
    segment = await current_segment(db, conv)
    msg = await _store_message(
        db,
        conv,
        sender_type="agent",
        sender_id=agent.id,
        sender_name=agent.nickname,
        kind=kind,
        body=body,
        client_msg_id=client_msg_id,
        content=content,
        segment=segment,
    )
    if segment is not None:
        segment.agent_messages += 1
        if segment.first_reply_at is None:
            segment.first_reply_at = msg.created_at
    return msg, False


async def whisper(
    db: AsyncSession, admin: User, conv: Conversation, *, client_msg_id: str, text: str
) -> tuple[Message, bool]:
    """An admin's note that only staff see (§4.8), in an ongoing conversation."""
    await _lock_conversation(db, conv)
    body = {"text": text}
    content = digest("whisper", body)
    found = await _replay_or_conflict(
        db,
        tenant_id=conv.tenant_id,
        sender_type="agent",
        sender_id=admin.id,
        client_msg_id=client_msg_id,
        content=content,
    )
    if found is not None:
        return found, True
    if conv.state != "ongoing":
        raise ApiError("conversation_not_ongoing")
    msg = await _store_message(
        db,
        conv,
        sender_type="agent",
        sender_id=admin.id,
        sender_name=admin.nickname,
        kind="text",
        body=body,
        client_msg_id=client_msg_id,
        content=content,
        whisper=True,
    )
    return msg, False


async def recall(db: AsyncSession, agent: User, conv: Conversation, message_id: int) -> Message:
    """The agent takes back their own message within 2 minutes; kept, marked, for audit."""
    await _lock_conversation(db, conv)
    msg = await db.scalar(
        select(Message).where(Message.id == message_id, Message.conversation_id == conv.id)
    )
    if msg is None:
        raise ApiError("not_found")
    if msg.sender_type != "agent" or msg.sender_id != agent.id or msg.whisper:
        raise ApiError("recall_not_own")
    if msg.recalled_at is not None:
        return msg
    if clock.now() - msg.created_at > RECALL_WINDOW:
        raise ApiError("recall_too_late")
    msg.recalled_at = clock.now()
    await log.append(db, conv, "message.recalled", {"message_id": msg.id})
    return msg


async def mark_read(db: AsyncSession, conv: Conversation, seq: int) -> None:
    conv.agent_read_seq = max(conv.agent_read_seq, min(seq, conv.last_seq))


async def share_with_group(
    db: AsyncSession, conv: Conversation, *, announce_queue: bool = True
) -> None:
    """Broadcast mode (§5.12 b): every member of the group sees and may answer the conversation."""
    was_waiting = conv.state == "waiting"
    conv.state = "ongoing"
    conv.broadcast = True
    conv.agent_id = None
    conv.accepted_at = conv.accepted_at or clock.now()
    await _conversation_event(db, conv, "conversation.assigned", agent=None, reason="broadcast")
    if was_waiting and announce_queue:
        _queue_changed(db, conv.tenant_id)


async def end(
    db: AsyncSession,
    conv: Conversation,
    *,
    by: str,
    actor_id: int | None,
    reason: str | None = None,
) -> None:
    """End a waiting or ongoing conversation; it moves to history (§3.7).

    `reason` names an automatic end (see `hooks.Ending`); `before_end` hooks may refuse a
    manual one (e.g. a session tag is required), `after_end` hooks react inside the same
    transaction (end message, satisfaction invitation, notices)."""
    await _lock_conversation(db, conv)
    if conv.state == "ended":
        return
    ending = Ending(by=by, actor_id=actor_id, reason=reason)
    for _, check in HOOKS.before_end:
        await check(db, conv, ending)
    was_waiting = conv.state == "waiting"
    now = clock.now()
    holder = conv.agent_id
    segment = await current_segment(db, conv)
    if segment is not None:
        segment.ended_at = now
        segment.end_reason = "ended"
    for _, hook in HOOKS.after_end:
        # Before the state flips, so hooks may still send to the visitor (end message, rating).
        await hook(db, conv, ending)
    conv.state = "ended"
    conv.ended_at = now
    conv.ended_by = by
    conv.end_actor_id = actor_id
    conv.end_reason = reason
    await _conversation_event(db, conv, "conversation.ended", by=by, reason=reason)
    if was_waiting:
        _queue_changed(db, conv.tenant_id)
    if holder is not None:
        emit(db, CapacityFreed(tenant_id=conv.tenant_id))


async def widget_of(db: AsyncSession, conv: Conversation) -> Widget | None:
    return await db.get(Widget, conv.widget_id) if conv.widget_id is not None else None
