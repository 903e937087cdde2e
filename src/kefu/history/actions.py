"""Listing ended conversations and presenting one (§3.10). Issue 6 adds the full filter set,
search and export on top of `HistoryFilter` and `page`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.blacklist import actions as blacklist
from kefu.conversations import actions as conv_actions
from kefu.conversations.models import Conversation, Message, Segment
from kefu.conversations.presenters import visitor_name
from kefu.conversations.schemas import AgentRefOut, PartyOut
from kefu.history.access import took_part
from kefu.history.schemas import (
    HistoryDetailOut,
    HistoryItemOut,
    SegmentOut,
    VisitorInfoOut,
)
from kefu.visitors.models import Visitor


@dataclass(frozen=True)
class HistoryFilter:
    """`ended_from` inclusive, `ended_to` exclusive; text filters match part of the name."""

    ended_from: datetime | None = None
    ended_to: datetime | None = None
    agent_id: int | None = None
    visitor_name: str | None = None
    visitor_id: int | None = None
    conversation_id: int | None = None
    channel: str | None = None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def query(tenant_id: int, visible: object, f: HistoryFilter) -> Select[Conversation]:
    stmt = select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.state == "ended"
    )
    if visible is not None:
        stmt = stmt.where(visible)  # type: ignore[arg-type]
    if f.ended_from is not None:
        stmt = stmt.where(Conversation.ended_at >= f.ended_from)
    if f.ended_to is not None:
        stmt = stmt.where(Conversation.ended_at < f.ended_to)
    if f.agent_id is not None:
        stmt = stmt.where(took_part({f.agent_id}))
    if f.channel:
        stmt = stmt.where(Conversation.channel == f.channel)
    if f.visitor_id is not None:
        stmt = stmt.where(Conversation.visitor_id == f.visitor_id)
    if f.conversation_id is not None:
        stmt = stmt.where(Conversation.id == f.conversation_id)
    if f.visitor_name:
        names = select(Visitor.id).where(
            Visitor.tenant_id == tenant_id, Visitor.name.ilike(_like(f.visitor_name), escape="\\")
        )
        stmt = stmt.where(Conversation.visitor_id.in_(names))
    return stmt


async def page(
    db: AsyncSession,
    *,
    tenant_id: int,
    visible: object,
    f: HistoryFilter,
    offset: int,
    limit: int,
) -> tuple[list[HistoryItemOut], int]:
    """Ended conversations, most recently ended first."""
    stmt = query(tenant_id, visible, f)
    total = int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = await db.scalars(
        stmt.order_by(Conversation.ended_at.desc(), Conversation.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return await items(db, list(rows)), total


async def items(db: AsyncSession, convs: list[Conversation]) -> list[HistoryItemOut]:
    if not convs:
        return []
    ids = [c.id for c in convs]
    segs = list(
        await db.scalars(
            select(Segment).where(Segment.conversation_id.in_(ids)).order_by(Segment.id)
        )
    )
    by_conv: dict[int, list[Segment]] = defaultdict(list)
    for s in segs:
        by_conv[s.conversation_id].append(s)
    user_ids = {s.agent_id for s in segs if s.agent_id} | {c.agent_id for c in convs if c.agent_id}
    users = (
        {u.id: u for u in await db.scalars(select(User).where(User.id.in_(user_ids)))}
        if user_ids
        else {}
    )
    visitors = {
        v.id: v
        for v in await db.scalars(
            select(Visitor).where(Visitor.id.in_({c.visitor_id for c in convs}))
        )
    }
    rows = await db.execute(
        select(Message.conversation_id, func.count())
        .where(Message.conversation_id.in_(ids), Message.whisper.is_(False))
        .group_by(Message.conversation_id)
    )
    counts: dict[int, int] = {cid: int(n) for cid, n in rows.all()}

    def ref(uid: int | None) -> AgentRefOut | None:
        user = users.get(uid) if uid is not None else None
        return AgentRefOut(id=user.id, nickname=user.nickname) if user is not None else None

    out = []
    for c in convs:
        parts: list[AgentRefOut] = []
        for s in by_conv[c.id]:
            r = ref(s.agent_id)
            if r is not None and all(p.id != r.id for p in parts):
                parts.append(r)
        out.append(
            HistoryItemOut(
                id=c.id,
                channel=c.channel,
                visitor=PartyOut(
                    id=c.visitor_id, name=visitor_name(visitors.get(c.visitor_id), c.visitor_id)
                ),
                agent=ref(c.agent_id),
                agents=parts,
                transferred=any(s.end_reason == "transferred_out" for s in by_conv[c.id]),
                widget_id=c.widget_id,
                association_id=c.association_id,
                created_at=c.created_at,
                accepted_at=c.accepted_at,
                ended_at=c.ended_at,
                ended_by=c.ended_by,
                end_reason=c.end_reason,
                message_count=int(counts.get(c.id, 0)),
            )
        )
    return out


async def detail(db: AsyncSession, conv: Conversation) -> HistoryDetailOut:
    item = (await items(db, [conv]))[0]
    visitor = await db.get(Visitor, conv.visitor_id)
    assert visitor is not None
    segs = list(
        await db.scalars(
            select(Segment).where(Segment.conversation_id == conv.id).order_by(Segment.id)
        )
    )
    agent_ids = {s.agent_id for s in segs if s.agent_id}
    users = (
        {u.id: u for u in await db.scalars(select(User).where(User.id.in_(agent_ids)))}
        if agent_ids
        else {}
    )
    entry = await blacklist.live_entry(db, conv.tenant_id, conv.visitor_id)
    open_conv = await conv_actions.open_conversation_of(db, conv.visitor_id)
    return HistoryDetailOut(
        **item.model_dump(),
        visitor_info=VisitorInfoOut(
            id=visitor.id,
            name=visitor_name(visitor, visitor.id),
            phone=visitor.phone,
            email=visitor.email,
            remark=visitor.remark,
            vip=visitor.vip,
        ),
        web_info=dict(conv.web_info or {}),
        segments=[
            SegmentOut(
                agent=(
                    AgentRefOut(id=s.agent_id, nickname=users[s.agent_id].nickname)
                    if s.agent_id in users
                    else None
                ),
                start_reason=s.start_reason,
                started_at=s.started_at,
                ended_at=s.ended_at,
                end_reason=s.end_reason,
            )
            for s in segs
        ],
        blacklist=await blacklist.view(db, entry) if entry is not None else None,
        open_conversation_id=open_conv.id if open_conv is not None else None,
    )
