"""Assignment: a conversation (or a drain pass's many) is given to an agent, and a new
participation segment begins (SPEC §3.2, §5.4). Dispatch decides who; this writes it."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from kefu.accounts.models import User
from kefu.conversations import log
from kefu.conversations.actions import log_event, queue_changed
from kefu.conversations.hooks import HOOKS, NewSegment
from kefu.conversations.models import Conversation, Segment
from kefu.conversations.presenters import conversations_view
from kefu.core import clock


async def assign(
    db: AsyncSession,
    conv: Conversation,
    agent: User,
    reason: str,
    *,
    extra_agent_ids: tuple[int, ...] = (),
    announce_queue: bool = True,
) -> Segment:
    """Give the conversation to an agent: a new participation segment begins.

    `announce_queue=False`: the caller (a drain) announces the queue once for many assignments.
    """
    now = clock.now()
    was_waiting = conv.state == "waiting"
    conv.state = "ongoing"
    conv.agent_id = agent.id
    conv.transferred_from_id = None
    conv.accepted_at = conv.accepted_at or now
    conv.agent_read_seq = 0
    segment = Segment(
        tenant_id=conv.tenant_id,
        conversation_id=conv.id,
        agent_id=agent.id,
        start_reason=reason,
        skill_group_id=conv.skill_group_id,
        started_at=now,
    )
    db.add(segment)
    await db.flush()
    await log_event(
        db,
        conv,
        "conversation.assigned",
        extra_agent_ids=extra_agent_ids,
        agent={"id": agent.id, "nickname": agent.nickname},
        reason=reason,
    )
    if was_waiting and announce_queue:
        queue_changed(db, conv.tenant_id)
    for _, hook in HOOKS.after_assign:
        await hook(db, conv, segment)
    return segment


ASSIGNED_COLUMNS = ("state", "agent_id", "transferred_from_id", "accepted_at", "agent_read_seq")


def _assign_many_update() -> Update:
    table = cast(Table, Conversation.__table__)
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            {
                col: bindparam(f"b_{col}", type_=table.c[col].type)
                for col in (*ASSIGNED_COLUMNS, "last_seq")
            }
        )
    )


_ASSIGN_MANY = _assign_many_update()  # built once (see dispatch.FREE_AGENTS)


async def assign_many(
    db: AsyncSession, items: list[tuple[Conversation, User]], reason: str
) -> None:
    """`assign` for many waiting conversations at once (a drain pass), written set-wise.

    The caller holds the conversations' rows with their current `last_seq` (a drain locks
    them) and announces the queue once. The effect is that of `assign` per item with
    `announce_queue=False`: same rows, the same `conversation.assigned` event and payload,
    and every after_assign hook (its bulk form when it has one, else per assignment).
    """
    if not items:
        return
    now = clock.now()
    rows: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for conv, agent in items:
        # Written below in one executemany; the objects take the values as already stored
        # (an ORM flush of hundreds of dirty objects costs more than the assignment itself).
        values = {
            "state": "ongoing",
            "agent_id": agent.id,
            "transferred_from_id": None,
            "accepted_at": conv.accepted_at or now,
            "agent_read_seq": 0,
        }
        for key, value in values.items():
            set_committed_value(conv, key, value)
        # The `conversation.assigned` event's seq, stored by this UPDATE too (append_many
        # takes it in memory after the view below, which shows the seq before the event).
        changes.append(
            {
                "b_id": conv.id,
                "b_last_seq": conv.last_seq + 1,
                **{f"b_{k}": v for k, v in values.items()},
            }
        )
        rows.append(
            {
                "tenant_id": conv.tenant_id,
                "conversation_id": conv.id,
                "agent_id": agent.id,
                "start_reason": reason,
                "skill_group_id": conv.skill_group_id,
                "started_at": now,
            }
        )
    await db.execute(_ASSIGN_MANY, changes)
    # One multi-row INSERT … RETURNING id; the bulk hooks get each segment as inserted (not
    # loaded into the session: building hundreds of ORM rows costs more than the INSERT).
    seg_table = cast(Table, Segment.__table__)
    inserted = await db.execute(
        insert(seg_table).returning(seg_table.c.id, seg_table.c.conversation_id), rows
    )
    seg_ids = {conv_id: seg_id for seg_id, conv_id in inserted.all()}
    convs = [conv for conv, _ in items]
    views = await conversations_view(
        db, convs, "staff", known_agents={agent.id: agent for _, agent in items}
    )
    await log.append_many(
        db,
        [
            (
                conv,
                "conversation.assigned",
                {
                    "conversation": view,
                    "agent": {"id": agent.id, "nickname": agent.nickname},
                    "reason": reason,
                },
                (),
            )
            for (conv, agent), view in zip(items, views, strict=True)
        ],
        seqs_stored=True,
    )
    segments: dict[int, Segment] | None = None
    pairs = [
        (conv, NewSegment(id=seg_ids[conv.id], **row))
        for conv, row in zip(convs, rows, strict=True)
    ]
    for _, hook in HOOKS.after_assign:
        bulk = HOOKS.after_assign_many.get(hook)
        if bulk is not None:
            await bulk(db, pairs)
            continue
        if segments is None:
            # A hook without a bulk form gets each new segment, as `assign` gives it.
            found = await db.scalars(
                select(Segment).where(
                    Segment.conversation_id.in_([c.id for c in convs]),
                    Segment.ended_at.is_(None),
                )
            )
            segments = {seg.conversation_id: seg for seg in found}
        for conv in convs:
            await hook(db, conv, segments[conv.id])
