"""Queue order of a waiting conversation (§3.3, §5.6): VIP first, then customer levels by tag.

How VIP and the ten levels combine is unspecified; VIP visitors go ahead of every level.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.conversations.dispatch import dispatch_settings
from kefu.routing.engine import visitor_tag_ids
from kefu.visitors.models import Visitor

VIP_RANK = 0
NORMAL_RANK = 11


async def priority_rank(db: AsyncSession, visitor: Visitor) -> int:
    """0 for VIP, 1..10 for the first customer level whose tags the visitor has, else 11."""
    if visitor.vip:
        return VIP_RANK
    tags = await visitor_tag_ids(db, visitor.tenant_id, visitor.id)
    if not tags:
        return NORMAL_RANK
    settings = await dispatch_settings(db, visitor.tenant_id)
    for level, tag_ids in enumerate((settings.priority_levels or [])[:10], start=1):
        if tags & {int(t) for t in tag_ids or []}:
            return level
    return NORMAL_RANK
