"""Conversation hooks of automations: start, restart and stop the §7 countdowns as messages
flow; send the enterprise greeting (§6) and the end message; notify on automatic ends."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.automations import timers as t
from kefu.automations.actions import settings_row, timers_of
from kefu.conversations import actions as conversations
from kefu.conversations.hooks import (
    Ending,
    after_assign,
    after_end,
    after_message,
    after_open,
    after_requeue,
)
from kefu.conversations.models import Conversation, Message, Segment
from kefu.notifications.actions import notify
from kefu.routing.time_plans import working_at
from kefu.tenants.models import Tenant
from kefu.visitors.actions import display_name
from kefu.visitors.models import Visitor

GREETING_CODE = "enterprise_greeting"
END_CODE = "end_message"


async def _greet(db: AsyncSession, conv: Conversation, text: str) -> None:
    """The enterprise greeting after the visitor's first message, in the default plan's hours."""
    from kefu.routing import greetings

    tenant = await db.get(Tenant, conv.tenant_id)
    assert tenant is not None
    if not await working_at(db, tenant, None):
        return
    await conversations.system_message(
        db, conv, GREETING_CODE, await greetings.fill(db, tenant, conv, text)
    )


@after_message(order=60)
async def on_message(db: AsyncSession, conv: Conversation, msg: Message) -> None:
    if msg.sender_type not in ("visitor", "agent"):
        return  # system prompts belong to neither side (§10.1)
    row = await settings_row(db, conv.tenant_id)
    cfg = timers_of(row)
    ongoing = conv.state == "ongoing"
    if msg.sender_type == "visitor":
        first = conv.last_visitor_message_at is None
        await t.cancel(db, conv, t.VISITOR_TIMEOUT)
        st = await t.existing_state(db, conv)
        if st is not None:
            st.visitor_prompts = 0
        if first and row is not None and row.greeting_text.strip():
            await _greet(db, conv, row.greeting_text)
        if conv.state == "waiting" and st is not None and st.waiting_asked:
            # "Keep waiting?" answered: the wait starts over.
            st.waiting_asked = False
            if cfg.waiting_end.enabled and cfg.waiting_end.mode == "keep_waiting":
                await t.schedule(db, conv, t.WAITING_END, cfg.waiting_end.remind_after)
        if (
            ongoing
            and cfg.agent_no_reply.enabled
            and conv.agent_id is not None
            and not await t.pending(db, t.AGENT_NO_REPLY, conv.id)
        ):
            # Counted from the first unanswered message.
            await t.schedule(db, conv, t.AGENT_NO_REPLY, cfg.agent_no_reply.timeout)
    else:
        await t.cancel(db, conv, t.AGENT_NO_REPLY)
        await t.set_overdue(db, conv, None)
        if ongoing and cfg.visitor_timeout.enabled:
            st = await t.state_of(db, conv)
            st.visitor_prompts = 0
            await t.schedule(db, conv, t.VISITOR_TIMEOUT, cfg.visitor_timeout.first_timeout)
    if ongoing and cfg.inactive.enabled:
        await t.schedule(db, conv, t.INACTIVE, cfg.inactive.timeout)


@after_requeue(order=60)
@after_open(order=60)
async def on_open(db: AsyncSession, conv: Conversation) -> None:
    cfg = timers_of(await settings_row(db, conv.tenant_id))
    if cfg.waiting_reminder.enabled:
        await t.schedule(db, conv, t.WAITING_REMINDER, cfg.waiting_reminder.first_after)
    end = cfg.waiting_end
    if end.enabled:
        await t.schedule(
            db, conv, t.WAITING_END, end.timeout if end.mode == "remind_end" else end.remind_after
        )


@after_assign(order=60)
async def on_assign(db: AsyncSession, conv: Conversation, segment: Segment) -> None:
    await t.cancel(db, conv, t.WAITING_REMINDER, t.WAITING_END)
    st = await t.existing_state(db, conv)
    if st is not None:
        st.waiting_asked = False
    await t.set_overdue(db, conv, None)
    cfg = timers_of(await settings_row(db, conv.tenant_id))
    if cfg.inactive.enabled:
        await t.schedule(db, conv, t.INACTIVE, cfg.inactive.timeout)
    if cfg.agent_no_reply.enabled and await t.last_speaker(db, conv) == "visitor":
        # The new holder owes the reply from now on.
        await t.schedule(db, conv, t.AGENT_NO_REPLY, cfg.agent_no_reply.timeout)
    else:
        await t.cancel(db, conv, t.AGENT_NO_REPLY)


async def _notify_auto_end(db: AsyncSession, conv: Conversation, reason: str) -> None:
    visitor = await db.get(Visitor, conv.visitor_id)
    name = display_name(visitor) if visitor is not None else f"访客{conv.visitor_id}"
    data = {"conversation_id": conv.id, "visitor_name": name, "reason": reason}
    holder = await db.get(User, conv.agent_id) if conv.agent_id is not None else None
    if holder is not None and holder.tenant_id == conv.tenant_id:
        await notify(
            db,
            tenant_id=conv.tenant_id,
            user_id=holder.id,
            kind="conversation_auto_ended",
            data=data,
        )
        return
    from kefu.routing.overflow import notify_admins

    await notify_admins(db, conv.tenant_id, "conversation_auto_ended", data)


@after_end(order=50)
async def on_end(db: AsyncSession, conv: Conversation, ending: Ending) -> None:
    await t.cancel(db, conv, *t.ALL_KINDS)
    st = await t.existing_state(db, conv)
    if st is not None:
        st.agent_overdue_at = None
    row = await settings_row(db, conv.tenant_id)
    if row is not None and row.end_message.strip():
        await conversations.system_message(db, conv, END_CODE, row.end_message)
    if ending.automatic and ending.reason is not None:
        await _notify_auto_end(db, conv, ending.reason)
