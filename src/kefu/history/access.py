"""Who sees which ended conversation (§3.10).

Agent mode: the conversations the caller took part in (a participation segment of theirs).
Admin mode (page `admin.history`): every conversation of the agents in the caller's History
data scope (the whole tenant for admins).
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.access.scopes import visible_agent_ids
from kefu.conversations.models import Conversation, Segment
from kefu.core.errors import ApiError

Mode = Literal["agent", "admin"]
AGENT_PAGE = "agent.history"
ADMIN_PAGE = "admin.history"


def took_part(agent_ids: set[int]) -> ColumnElement[bool]:
    """The conversation has a participation segment of one of `agent_ids`."""
    return exists(
        select(Segment.id).where(
            Segment.conversation_id == Conversation.id, Segment.agent_id.in_(agent_ids)
        )
    )


def default_mode(principal: Principal) -> Mode:
    return "admin" if ADMIN_PAGE in principal.pages else "agent"


async def visibility(
    db: AsyncSession, principal: Principal, mode: Mode
) -> ColumnElement[bool] | None:
    """The condition a conversation meets to be listed in `mode`; None: every one of the tenant.
    A mode whose page the caller lacks is refused."""
    if mode == "admin":
        if ADMIN_PAGE not in principal.pages:
            raise ApiError("forbidden")
        agents = await visible_agent_ids(db, principal, "history")
        if agents is None:
            return None
        return took_part(agents | {principal.user.id})
    if AGENT_PAGE not in principal.pages:
        raise ApiError("forbidden")
    return took_part({principal.user.id})


async def history_conversation(
    db: AsyncSession, principal: Principal, conversation_id: int
) -> Conversation:
    """An ended conversation the caller may see in either mode; otherwise 404 like unknown."""
    conv = await db.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id,
            Conversation.tenant_id == principal.tenant_id,
            Conversation.state == "ended",
        )
    )
    if conv is None:
        raise ApiError("not_found")
    if ADMIN_PAGE in principal.pages:
        agents = await visible_agent_ids(db, principal, "history")
        if agents is None:
            return conv
        allowed = agents | {principal.user.id}
    else:
        allowed = {principal.user.id}
    seen = await db.scalar(
        select(Segment.id)
        .where(Segment.conversation_id == conv.id, Segment.agent_id.in_(allowed))
        .limit(1)
    )
    if seen is None:
        raise ApiError("not_found")
    return conv
