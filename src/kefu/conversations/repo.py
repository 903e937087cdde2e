"""Queries over conversations and messages; tenant (and visitor) always given by the caller."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.conversations.models import Conversation, Message
from kefu.routing.models import SkillGroupMember


async def ongoing_of_agent(
    db: AsyncSession, *, tenant_id: int, agent_id: int
) -> list[Conversation]:
    """The agent's ongoing conversations, with the broadcast ones of their groups (§5.12 b)."""
    my_groups = select(SkillGroupMember.skill_group_id).where(
        SkillGroupMember.tenant_id == tenant_id, SkillGroupMember.user_id == agent_id
    )
    rows = await db.scalars(
        select(Conversation)
        .where(
            Conversation.tenant_id == tenant_id,
            Conversation.state == "ongoing",
            or_(
                Conversation.agent_id == agent_id,
                Conversation.broadcast.is_(True) & Conversation.skill_group_id.in_(my_groups),
            ),
        )
        .order_by(Conversation.accepted_at.desc(), Conversation.id.desc())
    )
    return list(rows)


async def by_state(
    db: AsyncSession, *, tenant_id: int, state: str, agent_ids: set[int] | None, limit: int = 500
) -> list[Conversation]:
    query = select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.state == state
    )
    if agent_ids is not None and state != "waiting":
        query = query.where(Conversation.agent_id.in_(agent_ids))
    order = Conversation.queued_at if state == "waiting" else Conversation.accepted_at
    return list(await db.scalars(query.order_by(order, Conversation.id).limit(limit)))


async def messages_page(
    db: AsyncSession,
    *,
    conversation_id: int,
    before_seq: int | None,
    limit: int,
    for_visitor: bool,
) -> list[Message]:
    """Up to `limit` messages before `before_seq`, oldest first."""
    query = select(Message).where(Message.conversation_id == conversation_id)
    if before_seq is not None:
        query = query.where(Message.seq < before_seq)
    if for_visitor:
        query = query.where(Message.whisper.is_(False), Message.recalled_at.is_(None))
    rows = list(await db.scalars(query.order_by(Message.seq.desc()).limit(limit)))
    rows.reverse()
    return rows


async def prior_messages(
    db: AsyncSession,
    *,
    tenant_id: int,
    visitor_id: int,
    before_conversation_id: int | None,
    before_id: int | None,
    limit: int,
    for_visitor: bool,
) -> list[Message]:
    """The visitor's messages in earlier conversations, newest first (§4.4)."""
    earlier = select(Conversation.id).where(
        Conversation.tenant_id == tenant_id, Conversation.visitor_id == visitor_id
    )
    if before_conversation_id is not None:
        earlier = earlier.where(Conversation.id < before_conversation_id)
    query = select(Message).where(Message.conversation_id.in_(earlier))
    if before_id is not None:
        query = query.where(Message.id < before_id)
    if for_visitor:
        query = query.where(Message.whisper.is_(False), Message.recalled_at.is_(None))
    return list(await db.scalars(query.order_by(Message.id.desc()).limit(limit)))
