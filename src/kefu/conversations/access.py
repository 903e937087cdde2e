"""The only permission-checked fetches of conversations, for staff and for visitors."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.access.scopes import visible_agent_ids
from kefu.conversations.log import broadcast_members
from kefu.conversations.models import Conversation
from kefu.core.errors import ApiError
from kefu.observability import context as log_context
from kefu.visitors.actions import VisitorPrincipal

MONITOR_PAGE = "admin.current_sessions"


def may_monitor(principal: Principal) -> bool:
    """Current sessions (§3.11): see others' live conversations and whisper."""
    return MONITOR_PAGE in principal.pages


async def shares_broadcast(db: AsyncSession, principal: Principal, conv: Conversation) -> bool:
    """A broadcast-mode conversation belongs to every member of its group (§5.12 b)."""
    if not conv.broadcast or conv.state != "ongoing":
        return False
    return principal.user.id in await broadcast_members(db, conv)


async def staff_can_see(db: AsyncSession, principal: Principal, conv: Conversation) -> bool:
    if conv.agent_id == principal.user.id:
        return True
    if await shares_broadcast(db, principal, conv):
        return True
    if not may_monitor(principal):
        return False
    agents = await visible_agent_ids(db, principal, "current_sessions")
    # Waiting conversations have no agent yet: monitors with any scope may see the queue.
    return agents is None or conv.agent_id is None or conv.agent_id in agents


async def conversation_for_staff(
    db: AsyncSession, principal: Principal, conversation_id: int
) -> Conversation:
    """A conversation the caller holds or may monitor; otherwise as if it did not exist."""
    conv = await db.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id, Conversation.tenant_id == principal.tenant_id
        )
    )
    if conv is None or not await staff_can_see(db, principal, conv):
        raise ApiError("not_found")
    log_context.bind(tenant_id=conv.tenant_id, conversation_id=conv.id)
    return conv


async def conversation_for_visitor(
    db: AsyncSession, vp: VisitorPrincipal, conversation_id: int
) -> Conversation:
    conv = await db.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id,
            Conversation.tenant_id == vp.tenant_id,
            Conversation.visitor_id == vp.visitor.id,
        )
    )
    if conv is None:
        raise ApiError("not_found")
    log_context.bind(tenant_id=conv.tenant_id, conversation_id=conv.id)
    return conv
