"""The visitor's place in the waiting queue."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.conversations.models import Conversation


async def queue_position(db: AsyncSession, conv: Conversation) -> int | None:
    """1 for the next in line; None unless waiting. Same order as dispatch (first queued)."""
    if conv.state != "waiting" or conv.queued_at is None:
        return None
    ahead = await db.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(
            Conversation.tenant_id == conv.tenant_id,
            Conversation.state == "waiting",
            Conversation.skill_group_id.is_(None),
            (Conversation.queued_at < conv.queued_at)
            | ((Conversation.queued_at == conv.queued_at) & (Conversation.id < conv.id)),
        )
    )
    return (ahead or 0) + 1
