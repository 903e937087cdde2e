"""The Waiting page (§3.3): who sees which waiting conversations, filters, and their rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.channels.models import Association
from kefu.conversations.models import Conversation
from kefu.conversations.presenters import visitor_name
from kefu.conversations.queue import queue_position
from kefu.conversations.schemas import AgentRefOut, LastMessageOut
from kefu.routing import membership
from kefu.routing.models import SkillGroup
from kefu.routing.queueing import is_queue_admin, my_queue_filter
from kefu.routing.waiting_schemas import (
    GroupRefOut,
    TagRefOut,
    WaitingItemOut,
    WaitingPageOut,
    WaitingVisitorOut,
)
from kefu.tags.models import VisitorTag, VisitorTagLink
from kefu.visitors.models import Visitor


@dataclass(frozen=True)
class WaitingFilters:
    since: datetime | None = None
    until: datetime | None = None
    channel: str | None = None
    association_id: int | None = None
    skill_group_id: int | None = None  # 0 or the Ungrouped row's id = Ungrouped
    vip: bool | None = None
    visitor_name: str | None = None


async def _query(db: AsyncSession, principal: Principal, f: WaitingFilters) -> Select[Conversation]:
    q = (
        select(Conversation)
        .join(Visitor, Visitor.id == Conversation.visitor_id)
        .where(Conversation.tenant_id == principal.tenant_id, Conversation.state == "waiting")
    )
    if not is_queue_admin(principal):
        q = q.where(await my_queue_filter(db, principal))
    if f.since is not None:
        q = q.where(Conversation.queued_at >= f.since)
    if f.until is not None:
        q = q.where(Conversation.queued_at <= f.until)
    if f.channel:
        q = q.where(Conversation.channel == f.channel)
    if f.association_id is not None:
        q = q.where(Conversation.association_id == f.association_id)
    if f.skill_group_id is not None:
        ungrouped = await membership.ensure_ungrouped(db, principal.tenant_id)
        if f.skill_group_id in (0, ungrouped.id):
            q = q.where(Conversation.skill_group_id.is_(None))
        else:
            q = q.where(Conversation.skill_group_id == f.skill_group_id)
    if f.vip is not None:
        q = q.where(Visitor.vip.is_(f.vip))
    if f.visitor_name:
        q = q.where(Visitor.name == f.visitor_name)
    return q


async def _tags_of(db: AsyncSession, visitor_ids: list[int]) -> dict[int, list[TagRefOut]]:
    rows = await db.execute(
        select(VisitorTagLink.visitor_id, VisitorTag.id, VisitorTag.name, VisitorTag.color)
        .join(VisitorTag, VisitorTag.id == VisitorTagLink.tag_id)
        .where(VisitorTagLink.visitor_id.in_(visitor_ids))
        .order_by(VisitorTag.name)
    )
    out: dict[int, list[TagRefOut]] = {}
    for vid, tid, name, color in rows.all():
        out.setdefault(vid, []).append(TagRefOut(id=tid, name=name, color=color))
    return out


async def waiting_page(
    db: AsyncSession, principal: Principal, f: WaitingFilters, *, limit: int, offset: int
) -> WaitingPageOut:
    q = await _query(db, principal, f)
    total = await db.scalar(select(func.count()).select_from(q.subquery())) or 0
    convs: list[Conversation] = list(
        await db.scalars(
            q.order_by(Conversation.priority_rank, Conversation.queued_at, Conversation.id)
            .limit(limit)
            .offset(offset)
        )
    )
    ungrouped = await membership.ensure_ungrouped(db, principal.tenant_id)
    groups = {
        g.id: g
        for g in await db.scalars(
            select(SkillGroup).where(SkillGroup.tenant_id == principal.tenant_id)
        )
    }
    visitors = {
        v.id: v
        for v in await db.scalars(
            select(Visitor).where(Visitor.id.in_([c.visitor_id for c in convs]))
        )
    }
    tags = await _tags_of(db, list(visitors))
    assoc_ids = {c.association_id for c in convs if c.association_id is not None}
    assocs = {
        a.id: a.name
        for a in await db.scalars(select(Association).where(Association.id.in_(assoc_ids)))
    }
    agent_ids = {c.target_agent_id for c in convs if c.target_agent_id is not None}
    agents = {u.id: u for u in await db.scalars(select(User).where(User.id.in_(agent_ids)))}
    items = []
    for c in convs:
        v = visitors[c.visitor_id]
        group = groups.get(c.skill_group_id or 0, ungrouped)
        target = agents.get(c.target_agent_id or 0)
        items.append(
            WaitingItemOut(
                id=c.id,
                visitor=WaitingVisitorOut(
                    id=v.id, name=visitor_name(v, v.id), vip=v.vip, tags=tags.get(v.id, [])
                ),
                channel=c.channel,
                association_id=c.association_id,
                association_name=assocs.get(c.association_id or 0),
                skill_group=GroupRefOut(id=group.id, name=group.name, builtin=group.builtin),
                target_agent=(
                    AgentRefOut(id=target.id, nickname=target.nickname) if target else None
                ),
                routed_by=c.routed_by,
                queued_at=c.queued_at,
                created_at=c.created_at,
                priority_rank=c.priority_rank,
                position=await queue_position(db, c),
                last_message=(
                    LastMessageOut(
                        kind=c.last_message_kind or "text",
                        preview=c.last_message_preview,
                        at=c.last_message_at,
                        sender_type=c.last_message_sender or "visitor",
                    )
                    if c.last_message_at is not None
                    else None
                ),
            )
        )
    admin = is_queue_admin(principal)
    switches = principal.tenant.switches or {}
    return WaitingPageOut(
        items=items,
        total=total,
        can_pickup=admin or bool(switches.get("manual_pickup", True)),
        can_view_detail=admin or bool(switches.get("waiting_detail", False)),
        is_admin=admin,
    )
