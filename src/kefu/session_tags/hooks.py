"""Conversation hooks of session tags: the forced tag at a manual end (§3.7)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.conversations.hooks import Ending, before_end
from kefu.conversations.models import Conversation


@before_end(order=10)
async def forced_tag(db: AsyncSession, conv: Conversation, ending: Ending) -> None:
    # Automatic ends are exempt: they apply the admin-configured default tag (§7, §9.1).
    if ending.automatic:
        return
    from kefu.session_tags.actions import require_tag_to_end

    await require_tag_to_end(db, conv, by=ending.by)
