"""Callback (§3.8): an agent starts a new conversation with the visitor of an ended one.

The calling agent holds the new conversation at once (segment start_reason `callback`).
Refused when the agent is at the 200 cap (§2.3), when the visitor already has a waiting or
ongoing conversation (the error names it), or when the visitor is blacklisted (§3.9).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.blacklist.actions import ensure_not_blacklisted
from kefu.conversations import actions, dispatch
from kefu.conversations.models import Conversation
from kefu.core import clock
from kefu.core.errors import ApiError, register_codes
from kefu.routing.queueing import give

register_codes(
    {
        "callback_not_ended": (
            409,
            "只能对已结束的会话回呼",
            "Only ended conversations can be called back",
        ),
        "callback_visitor_busy": (
            409,
            "该访客已有进行中或排队中的会话（会话ID {conversation_id}）",
            "This visitor already has a waiting or ongoing conversation (ID {conversation_id})",
        ),
        "callback_at_cap": (
            409,
            "你的进行中会话已达 200 个上限，请先结束部分会话再回呼",
            "You already hold the maximum of 200 ongoing conversations; end some to call back",
        ),
    }
)


async def callback(db: AsyncSession, principal: Principal, conv: Conversation) -> Conversation:
    if conv.state != "ended":
        raise ApiError("callback_not_ended")
    me = principal.user
    await dispatch.lock_tenant_dispatch(db, principal.tenant_id)
    await ensure_not_blacklisted(db, principal.tenant_id, conv.visitor_id)
    busy = await actions.open_conversation_of(db, conv.visitor_id)
    if busy is not None:
        raise ApiError(
            "callback_visitor_busy",
            conversation_id=busy.id,
            fields=[
                {"field": "conversation_id", "rule": "open", "message": str(busy.id)},
            ],
        )
    if await dispatch.ongoing_of(db, principal.tenant_id, me.id) >= dispatch.HARD_CAP:
        raise ApiError("callback_at_cap")
    now = clock.now()
    new = Conversation(
        tenant_id=conv.tenant_id,
        visitor_id=conv.visitor_id,
        widget_id=conv.widget_id,
        association_id=conv.association_id,
        skill_group_id=conv.skill_group_id,
        routed_by="callback",
        channel=conv.channel,
        state="waiting",
        created_at=now,
        queued_at=now,
        entry=dict(conv.entry or {}),
        web_info=dict(conv.web_info or {}),
    )
    db.add(new)
    await db.flush()
    await actions.log_event(db, new, "conversation.created")
    snap = await dispatch.snapshot(db, principal.tenant)
    await give(db, snap, new, me.id, reason="callback", transfer=False)
    return new
