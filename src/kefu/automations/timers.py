"""The conversation timers of §7: durable rows (`kefu.workers.scheduler`), one per kind and
conversation, run once across nodes; the progress between deadlines is `AutomationState`.

Kinds (subject = conversation id):
- visitor timeout: after an agent message; prompts `count` times, then ends (`visitor_timeout`);
- inactive: neither side wrote for the timeout; prompt and end (`inactive`);
- waiting reminder: while waiting; `count` reminders, optionally with the leave-message button;
- waiting end: "remind and end" or "remind to keep waiting" (`waiting_timeout`);
- agent no-reply: flag, prompt the visitor, and/or write an alert record.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.automations.actions import timers as timer_settings
from kefu.automations.models import AlertRecord, AutomationState
from kefu.conversations import actions as conversations
from kefu.conversations import log
from kefu.conversations.models import Conversation, Message
from kefu.core import clock
from kefu.core.errors import ApiError
from kefu.routing.models import SkillGroup
from kefu.routing.time_plans import working_at
from kefu.tenants.models import Tenant
from kefu.workers.models import Timer
from kefu.workers.scheduler import DueTimer, cancel_timers, schedule_timer, timer_handler

log_ = logging.getLogger("kefu.automations")

VISITOR_TIMEOUT = "auto.visitor_timeout"
INACTIVE = "auto.inactive"
WAITING_REMINDER = "auto.waiting_reminder"
WAITING_END = "auto.waiting_end"
AGENT_NO_REPLY = "auto.agent_no_reply"
ALL_KINDS = (VISITOR_TIMEOUT, INACTIVE, WAITING_REMINDER, WAITING_END, AGENT_NO_REPLY)

# System message codes (the widget shows the leave-message button under the second one).
CODE_VISITOR_PROMPT = "visitor_timeout_prompt"
CODE_INACTIVE = "inactive_prompt"
CODE_WAITING_REMINDER = "waiting_reminder"
CODE_WAITING_REMINDER_LEAVE = "waiting_reminder_leave"
CODE_WAITING_ASK = "waiting_ask"
CODE_WAITING_END = "waiting_end"
CODE_AGENT_NO_REPLY = "agent_no_reply"
OVERDUE_EVENT = "conversation.agent_overdue"


def after(seconds: int) -> datetime:
    return clock.now() + timedelta(seconds=seconds)


async def state_of(db: AsyncSession, conv: Conversation) -> AutomationState:
    st = await existing_state(db, conv)
    if st is None:
        st = AutomationState(tenant_id=conv.tenant_id, conversation_id=conv.id)
        db.add(st)
        await db.flush()
    return st


_STATE_OF = select(AutomationState).where(
    AutomationState.conversation_id == bindparam("conversation_id")
)  # built once: every message reads it


async def existing_state(db: AsyncSession, conv: Conversation) -> AutomationState | None:
    st: AutomationState | None = await db.scalar(_STATE_OF, {"conversation_id": conv.id})
    return st


async def schedule(db: AsyncSession, conv: Conversation, kind: str, seconds: int) -> None:
    await schedule_timer(
        db, tenant_id=conv.tenant_id, kind=kind, subject_id=conv.id, due_at=after(seconds)
    )


_PENDING = select(Timer.id).where(
    Timer.kind == bindparam("kind"), Timer.subject_id == bindparam("subject_id")
)


async def pending(db: AsyncSession, kind: str, conv_id: int) -> bool:
    return (await db.scalar(_PENDING, {"kind": kind, "subject_id": conv_id})) is not None


async def cancel(db: AsyncSession, conv: Conversation, *kinds: str) -> None:
    await cancel_timers(db, kinds=kinds, subject_id=conv.id)


async def set_overdue(db: AsyncSession, conv: Conversation, at: datetime | None) -> None:
    """Flag or clear "the agent owes a reply" and tell the staff clients (never the visitor)."""
    st = await (state_of(db, conv) if at is not None else existing_state(db, conv))
    if st is None or st.agent_overdue_at == at:
        return
    st.agent_overdue_at = at
    await log.append(
        db,
        conv,
        OVERDUE_EVENT,
        {"agent_overdue_at": at, "agent_id": conv.agent_id},
        staff_only=True,
    )


async def last_speaker(db: AsyncSession, conv: Conversation) -> str | None:
    """Who wrote the latest visitor or agent message (system messages belong to neither)."""
    row = await db.scalar(
        select(Message.sender_type)
        .where(
            Message.conversation_id == conv.id,
            Message.sender_type.in_(("visitor", "agent")),
            Message.whisper.is_(False),
        )
        .order_by(Message.seq.desc())
        .limit(1)
    )
    return str(row) if row is not None else None


async def _conversation(db: AsyncSession, due: DueTimer, state: str) -> Conversation | None:
    conv = await db.scalar(
        select(Conversation).where(
            Conversation.id == due.subject_id, Conversation.tenant_id == due.tenant_id
        )
    )
    if conv is None or conv.state != state:
        return None
    return conv


async def apply_default_tags(
    db: AsyncSession, conv: Conversation, tag_ids: list[int], remark: str
) -> None:
    """The admin's default session tags and remark of an automatic end (§7, §9.1).

    Tags the agent already set are kept; a default tag deleted since it was configured is
    skipped (the others, and the remark, still apply)."""
    if not tag_ids and not remark.strip():
        return
    from kefu.session_tags import actions as session_tags

    if await session_tags.has_tags(db, conv):
        return
    live: list[int] = []
    for tag_id in tag_ids:
        try:
            await session_tags.get_tag(db, conv.tenant_id, tag_id)
        except ApiError:
            continue
        live.append(tag_id)
    try:
        # It checks everything before writing, so a refusal leaves nothing half-done.
        await session_tags.tag_conversation(db, conv, tag_ids=live, remark=remark, actor=None)
    except ApiError as exc:
        log_.warning("default session tags of conversation %s not applied: %s", conv.id, exc)


async def auto_end(
    db: AsyncSession,
    conv: Conversation,
    reason: str,
    *,
    tag_ids: list[int] | None = None,
    remark: str = "",
) -> None:
    await apply_default_tags(db, conv, list(tag_ids or []), remark)
    await conversations.end(db, conv, by="system", actor_id=None, reason=reason)


async def _group_working(db: AsyncSession, conv: Conversation) -> bool:
    tenant = await db.get(Tenant, conv.tenant_id)
    assert tenant is not None
    plan_id = None
    if conv.skill_group_id is not None:
        group = await db.get(SkillGroup, conv.skill_group_id)
        if group is not None and group.tenant_id == conv.tenant_id:
            plan_id = group.time_plan_id
    return await working_at(db, tenant, plan_id)


# --- handlers ----------------------------------------------------------------------------


@timer_handler(VISITOR_TIMEOUT)
async def visitor_timeout(db: AsyncSession, due: DueTimer) -> None:
    conv = await _conversation(db, due, "ongoing")
    cfg = (await timer_settings(db, due.tenant_id)).visitor_timeout
    if conv is None or not cfg.enabled:
        return
    st = await state_of(db, conv)
    if st.visitor_prompts < cfg.count:
        st.visitor_prompts += 1
        if cfg.text.strip():
            await conversations.system_message(db, conv, CODE_VISITOR_PROMPT, cfg.text)
        wait = cfg.interval if st.visitor_prompts < cfg.count else cfg.end_delay
        await schedule(db, conv, VISITOR_TIMEOUT, wait)
        return
    await auto_end(db, conv, "visitor_timeout", tag_ids=cfg.tag_ids, remark=cfg.remark)


@timer_handler(INACTIVE)
async def inactive(db: AsyncSession, due: DueTimer) -> None:
    conv = await _conversation(db, due, "ongoing")
    cfg = (await timer_settings(db, due.tenant_id)).inactive
    if conv is None or not cfg.enabled:
        return
    if cfg.text.strip():
        await conversations.system_message(db, conv, CODE_INACTIVE, cfg.text)
    await auto_end(db, conv, "inactive")


@timer_handler(WAITING_REMINDER)
async def waiting_reminder(db: AsyncSession, due: DueTimer) -> None:
    conv = await _conversation(db, due, "waiting")
    cfg = (await timer_settings(db, due.tenant_id)).waiting_reminder
    if conv is None or not cfg.enabled:
        return
    st = await state_of(db, conv)
    if st.waiting_reminders >= cfg.count:
        return
    st.waiting_reminders += 1
    in_period = cfg.period == "all" or (
        (await _group_working(db, conv)) == (cfg.period == "on_duty")
    )
    if in_period and cfg.text.strip():
        code = CODE_WAITING_REMINDER_LEAVE if cfg.leave_message else CODE_WAITING_REMINDER
        await conversations.system_message(db, conv, code, cfg.text)
    if st.waiting_reminders < cfg.count:
        await schedule(db, conv, WAITING_REMINDER, cfg.interval)


@timer_handler(WAITING_END)
async def waiting_end(db: AsyncSession, due: DueTimer) -> None:
    conv = await _conversation(db, due, "waiting")
    cfg = (await timer_settings(db, due.tenant_id)).waiting_end
    if conv is None or not cfg.enabled:
        return
    st = await state_of(db, conv)
    if cfg.mode == "keep_waiting" and not st.waiting_asked:
        st.waiting_asked = True
        if cfg.ask_text.strip():
            await conversations.system_message(db, conv, CODE_WAITING_ASK, cfg.ask_text)
        await schedule(db, conv, WAITING_END, cfg.end_after)
        return
    if cfg.end_text.strip():
        await conversations.system_message(db, conv, CODE_WAITING_END, cfg.end_text)
    await auto_end(db, conv, "waiting_timeout", tag_ids=cfg.tag_ids, remark=cfg.remark)


@timer_handler(AGENT_NO_REPLY)
async def agent_no_reply(db: AsyncSession, due: DueTimer) -> None:
    conv = await _conversation(db, due, "ongoing")
    cfg = (await timer_settings(db, due.tenant_id)).agent_no_reply
    if conv is None or not cfg.enabled or conv.agent_id is None:
        return
    if await last_speaker(db, conv) != "visitor":
        return
    if cfg.remind_agent:
        await set_overdue(db, conv, clock.now())
    if cfg.remind_visitor and cfg.visitor_text.strip():
        await conversations.system_message(db, conv, CODE_AGENT_NO_REPLY, cfg.visitor_text)
    if cfg.alert:
        db.add(
            AlertRecord(
                tenant_id=conv.tenant_id,
                conversation_id=conv.id,
                agent_id=conv.agent_id,
                level=cfg.alert_level,
                kind="agent_no_reply",
                created_at=clock.now(),
            )
        )
