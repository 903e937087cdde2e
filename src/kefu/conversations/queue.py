"""The visitor's place in the waiting queue (the same order dispatch uses, §3.3)."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.conversations.models import Conversation


async def queue_position(db: AsyncSession, conv: Conversation) -> int | None:
    """1 for the next in line of its group's queue; None unless waiting."""
    if conv.state != "waiting" or conv.queued_at is None:
        return None
    same_group = (
        Conversation.skill_group_id.is_(None)
        if conv.skill_group_id is None
        else Conversation.skill_group_id == conv.skill_group_id
    )
    ahead = await db.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(
            Conversation.tenant_id == conv.tenant_id,
            Conversation.state == "waiting",
            same_group,
            or_(
                Conversation.priority_rank < conv.priority_rank,
                (Conversation.priority_rank == conv.priority_rank)
                & (
                    (Conversation.queued_at < conv.queued_at)
                    | ((Conversation.queued_at == conv.queued_at) & (Conversation.id < conv.id))
                ),
            ),
        )
    )
    return (ahead or 0) + 1
