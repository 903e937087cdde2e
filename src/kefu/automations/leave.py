"""The leave-message button of the waiting reminder (§7): the visitor leaves their contact
and message, which is stored and ends the waiting conversation (reason `leave_message`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.automations.actions import timers
from kefu.automations.models import LeaveMessage
from kefu.automations.schemas import LeaveMessageIn
from kefu.conversations import actions as conversations
from kefu.core import clock
from kefu.core.errors import ApiError, register_codes
from kefu.visitors.actions import VisitorPrincipal

register_codes(
    {
        "leave_message_unavailable": (
            409,
            "当前无法留言：只有排队中的会话在开启留言按钮时可以留言",
            "Leaving a message is only possible while waiting, when the leave-message button is on",
        ),
    }
)


async def leave_message(
    db: AsyncSession, vp: VisitorPrincipal, body: LeaveMessageIn
) -> LeaveMessage:
    conv = await conversations.open_conversation_of(db, vp.visitor.id)
    cfg = (await timers(db, vp.tenant_id)).waiting_reminder
    if conv is None or conv.state != "waiting" or not (cfg.enabled and cfg.leave_message):
        raise ApiError("leave_message_unavailable")
    msg = LeaveMessage(
        tenant_id=vp.tenant_id,
        conversation_id=conv.id,
        visitor_id=vp.visitor.id,
        name=body.name,
        phone=body.phone.strip(),
        content=body.content.strip(),
        created_at=clock.now(),
    )
    db.add(msg)
    await db.flush()
    await conversations.end(db, conv, by="visitor", actor_id=vp.visitor.id, reason="leave_message")
    return msg
