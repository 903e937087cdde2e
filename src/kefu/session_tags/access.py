"""Permission-checked fetches for session tags on conversations (§9.1)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.access.scopes import visible_agent_ids
from kefu.conversations.access import staff_can_see
from kefu.conversations.models import Conversation
from kefu.core.errors import ApiError

# Route guard: the workbench (the holding agent, also after the end from their history), admin
# History or Current sessions.
TAGGING_PAGES = ("agent.sessions", "admin.history", "admin.current_sessions")


async def conversation_for_tagging(
    db: AsyncSession, principal: Principal, conversation_id: int
) -> Conversation:
    """A conversation the caller may tag: the agent who holds (or last held) it, an admin
    whose History scope covers its agent, or a monitor who may see it live. Else 404."""
    conv = await db.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id, Conversation.tenant_id == principal.tenant_id
        )
    )
    if conv is None:
        raise ApiError("not_found")
    if conv.agent_id == principal.user.id:
        return conv
    if "admin.history" in principal.pages:
        agents = await visible_agent_ids(db, principal, "history")
        if agents is None or (conv.agent_id is not None and conv.agent_id in agents):
            return conv
    if conv.state != "ended" and await staff_can_see(db, principal, conv):
        return conv
    raise ApiError("not_found")
