"""Leave messages (§11.1): the visitor leaves one (waiting button, waiting-reminder button, off
hours), staff list, look up, assign, change status, comment, in batches too. Validate, write,
notify; never commit (the route's unit of work does)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.blacklist.actions import active_entry
from kefu.channels.models import Association
from kefu.conversations import actions as conversations
from kefu.core import clock
from kefu.core.errors import ApiError, register_codes
from kefu.events.bus import emit, pending_events
from kefu.events.types import LeaveMessagesChanged
from kefu.leave_messages.models import LeaveMessage, LeaveMessageComment
from kefu.leave_messages.schemas import LeaveFilter, LeaveMessageIn
from kefu.notifications.actions import notify
from kefu.routing.engine import route
from kefu.routing.models import SkillGroup
from kefu.routing.time_plans import working_at
from kefu.visitors.actions import VisitorPrincipal
from kefu.visitors.models import Visitor

AGENT_PAGE = "agent.leave_messages"
ADMIN_PAGE = "admin.leave_messages"

register_codes(
    {
        "leave_message_unavailable": (
            409,
            "当前无法留言：请在排队中或非工作时间留言",
            "Leaving a message is only possible while waiting or off hours",
        ),
        "leave_message_not_yours": (
            403,
            "只能处理分配给自己的留言",
            "You can only handle leave messages assigned to you",
        ),
        "leave_message_assign_forbidden": (
            403,
            "只能把未分配的留言分配给自己",
            "You can only assign unassigned leave messages, and only to yourself",
        ),
        "leave_message_assignee_invalid": (
            422,
            "处理人必须是本企业已启用的客服",
            "The assignee must be an enabled member of this tenant",
        ),
    }
)


def is_manager(principal: Principal) -> bool:
    """Admin-mode leave messages: every message, assign to anyone, batch "Process"."""
    return ADMIN_PAGE in principal.pages


# --- the visitor's side -----------------------------------------------------------------


async def _association_id(db: AsyncSession, vp: VisitorPrincipal) -> int | None:
    """The association a conversation opened now would record (as open_conversation does)."""
    named = (vp.device.entry or {}).get("association")
    if named:
        found = await db.scalar(
            select(Association.id).where(
                Association.tenant_id == vp.tenant_id, Association.name == named
            )
        )
        if found is not None:
            return found
    return vp.widget.association_id


async def off_hours(db: AsyncSession, vp: VisitorPrincipal) -> bool:
    """Whether a conversation opened now would land in a group that is off hours. Robots do not
    exist yet, so routing never ends at one and "no robot is active" always holds (§20.1)."""
    routed = await route(
        db,
        vp.tenant,
        visitor_id=vp.visitor.id,
        channel="web",
        association_id=await _association_id(db, vp),
        entry=dict(vp.device.entry or {}),
    )
    plan_id = None
    if routed.skill_group_id is not None:
        group = await db.get(SkillGroup, routed.skill_group_id)
        plan_id = group.time_plan_id if group is not None else None
    else:
        ungrouped = await db.scalar(
            select(SkillGroup).where(
                SkillGroup.tenant_id == vp.tenant_id, SkillGroup.builtin.is_not(None)
            )
        )
        plan_id = ungrouped.time_plan_id if ungrouped is not None else None
    return not await working_at(db, vp.tenant, plan_id)


@dataclass
class Offer:
    off_hours: bool
    waiting: bool


async def offer(db: AsyncSession, vp: VisitorPrincipal) -> Offer:
    conv = await conversations.open_conversation_of(db, vp.visitor.id)
    if conv is not None:
        return Offer(off_hours=False, waiting=conv.state == "waiting")
    if await active_entry(db, vp.tenant_id, vp.visitor.id) is not None:
        return Offer(off_hours=False, waiting=False)
    return Offer(off_hours=await off_hours(db, vp), waiting=False)


async def _next_number(db: AsyncSession, tenant_id: int) -> int:
    if db.get_bind().dialect.name == "postgresql":
        # One number at a time per tenant (SQLite has a single writer already).
        await db.execute(text("SELECT pg_advisory_xact_lock(7311, :t)"), {"t": tenant_id})
    last = await db.scalar(
        select(func.max(LeaveMessage.number)).where(LeaveMessage.tenant_id == tenant_id)
    )
    return int(last or 0) + 1


async def leave_message(
    db: AsyncSession, vp: VisitorPrincipal, body: LeaveMessageIn
) -> LeaveMessage:
    """Store the visitor's message. From a waiting conversation it ends that conversation
    (reason `leave_message`); off hours it needs no conversation and opens none."""
    from kefu.automations.actions import timers  # the reminder's button settings

    conv = await conversations.open_conversation_of(db, vp.visitor.id)
    if body.origin == "off_hours":
        if conv is not None or not (await offer(db, vp)).off_hours:
            raise ApiError("leave_message_unavailable")
    elif conv is None or conv.state != "waiting":
        raise ApiError("leave_message_unavailable")
    elif body.origin == "reminder":
        cfg = (await timers(db, vp.tenant_id)).waiting_reminder
        if not (cfg.enabled and cfg.leave_message):
            raise ApiError("leave_message_unavailable")
    now = clock.now()
    msg = LeaveMessage(
        tenant_id=vp.tenant_id,
        number=await _next_number(db, vp.tenant_id),
        conversation_id=conv.id if conv is not None else None,
        visitor_id=vp.visitor.id,
        widget_id=vp.widget.id,
        association_id=conv.association_id if conv is not None else await _association_id(db, vp),
        channel=conv.channel if conv is not None else "web",
        origin=body.origin,
        subject=body.subject,
        name=body.name,
        phone=body.phone,
        email=body.email,
        content=body.content,
        status="unhandled",
        created_at=now,
        updated_at=now,
    )
    db.add(msg)
    await db.flush()
    _changed(db, vp.tenant_id)
    if conv is not None:
        await conversations.end(
            db, conv, by="visitor", actor_id=vp.visitor.id, reason="leave_message"
        )
    return msg


# --- staff: listing ---------------------------------------------------------------------


def listing(principal: Principal, f: LeaveFilter) -> Select[LeaveMessage]:
    """The messages one list shows, newest first. Agent views are "mine" by status, or the
    unassigned; the agent's custom filter covers unassigned + mine only (§11.1 as written)."""
    stmt = select(LeaveMessage).where(LeaveMessage.tenant_id == principal.tenant_id)
    me = principal.user.id
    if f.mode == "agent":
        if f.view == "unassigned":
            stmt = stmt.where(LeaveMessage.assignee_id.is_(None))
        elif f.view == "filter":
            stmt = stmt.where(
                or_(LeaveMessage.assignee_id.is_(None), LeaveMessage.assignee_id == me)
            )
        else:
            stmt = stmt.where(LeaveMessage.assignee_id == me, LeaveMessage.status == f.view)
    if f.status is not None:
        stmt = stmt.where(LeaveMessage.status == f.status)
    if f.agent_id is not None:
        stmt = stmt.where(LeaveMessage.assignee_id == f.agent_id)
    if f.agent.strip() and f.mode == "admin":
        like = f"%{_escape(f.agent.strip())}%"
        stmt = stmt.where(
            LeaveMessage.assignee_id.in_(
                select(User.id).where(
                    User.tenant_id == principal.tenant_id, User.nickname.ilike(like, escape="\\")
                )
            )
        )
    if f.assigned is not None:
        stmt = stmt.where(
            LeaveMessage.assignee_id.is_not(None)
            if f.assigned
            else LeaveMessage.assignee_id.is_(None)
        )
    if f.sender.strip():
        like = f"%{_escape(f.sender.strip())}%"
        stmt = stmt.where(
            or_(
                LeaveMessage.name.ilike(like, escape="\\"),
                LeaveMessage.phone.ilike(like, escape="\\"),
                LeaveMessage.email.ilike(like, escape="\\"),
                LeaveMessage.visitor_id.in_(
                    select(Visitor.id).where(
                        Visitor.tenant_id == principal.tenant_id,
                        Visitor.name.ilike(like, escape="\\"),
                    )
                ),
            )
        )
    if f.channel:
        stmt = stmt.where(LeaveMessage.channel == f.channel)
    if f.created_from is not None:
        stmt = stmt.where(LeaveMessage.created_at >= f.created_from)
    if f.created_to is not None:
        stmt = stmt.where(LeaveMessage.created_at <= f.created_to)
    if f.updated_from is not None:
        stmt = stmt.where(LeaveMessage.updated_at >= f.updated_from)
    if f.updated_to is not None:
        stmt = stmt.where(LeaveMessage.updated_at <= f.updated_to)
    return stmt.order_by(LeaveMessage.number.desc())


def _escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def badge(db: AsyncSession, principal: Principal) -> tuple[int | None, int | None]:
    async def count(*where: Any) -> int:
        return int(
            await db.scalar(
                select(func.count(LeaveMessage.id)).where(
                    LeaveMessage.tenant_id == principal.tenant_id,
                    LeaveMessage.status == "unhandled",
                    *where,
                )
            )
            or 0
        )

    mine = (
        await count(LeaveMessage.assignee_id == principal.user.id)
        if AGENT_PAGE in principal.pages
        else None
    )
    every = await count() if is_manager(principal) else None
    return mine, every


# --- staff: actions ---------------------------------------------------------------------


async def _assignee(db: AsyncSession, tenant_id: int, user_id: int) -> User:
    user = await db.get(User, user_id)
    if user is None or user.tenant_id != tenant_id or not user.enabled:
        raise ApiError("leave_message_assignee_invalid")
    return user


def _changed(db: AsyncSession, tenant_id: int) -> None:
    """Staff badges and lists re-read: once per transaction, however many messages changed."""
    if not any(isinstance(e, LeaveMessagesChanged) for e in pending_events(db)):
        emit(db, LeaveMessagesChanged(tenant_id=tenant_id))


def _ref(msg: LeaveMessage) -> dict[str, Any]:
    return {"leave_message_id": msg.id, "number": msg.number, "subject": msg.subject}


def _actor(principal: Principal) -> dict[str, Any]:
    return {"actor_id": principal.user.id, "actor_name": principal.user.nickname}


async def assign(
    db: AsyncSession, principal: Principal, msgs: list[LeaveMessage], assignee_id: int | None
) -> None:
    """Managers assign to anyone (or unassign); agents take unassigned messages for themselves.
    Everything is checked before anything is written."""
    me = principal.user.id
    if not is_manager(principal) and (
        assignee_id != me or any(m.assignee_id not in (None, me) for m in msgs)
    ):
        raise ApiError("leave_message_assign_forbidden")
    user = await _assignee(db, principal.tenant_id, assignee_id) if assignee_id else None
    now = clock.now()
    for msg in msgs:
        if msg.assignee_id == assignee_id:
            continue
        msg.assignee_id = assignee_id
        msg.updated_at = now
        _changed(db, principal.tenant_id)
        if user is not None and user.id != me:
            await notify(
                db,
                tenant_id=principal.tenant_id,
                user_id=user.id,
                kind="leave_message_assigned",
                data={**_ref(msg), **_actor(principal)},
            )
    await db.flush()


async def set_status(
    db: AsyncSession, principal: Principal, msgs: list[LeaveMessage], status: str
) -> None:
    """Managers change any message; agents only those assigned to them. The handler hears of
    changes made by someone else."""
    me = principal.user.id
    if not is_manager(principal) and any(m.assignee_id != me for m in msgs):
        raise ApiError("leave_message_not_yours")
    now = clock.now()
    for msg in msgs:
        if msg.status == status:
            continue
        old, msg.status, msg.updated_at = msg.status, status, now
        _changed(db, principal.tenant_id)
        if msg.assignee_id is not None and msg.assignee_id != me:
            await notify(
                db,
                tenant_id=principal.tenant_id,
                user_id=msg.assignee_id,
                kind="leave_message_status_changed",
                data={**_ref(msg), "old": old, "new": status, **_actor(principal)},
            )
    await db.flush()


async def comment(
    db: AsyncSession, principal: Principal, msg: LeaveMessage, body: str
) -> LeaveMessageComment:
    now = clock.now()
    row = LeaveMessageComment(
        tenant_id=principal.tenant_id,
        leave_message_id=msg.id,
        author_id=principal.user.id,
        author_name=principal.user.nickname[:50],
        text=body,
        created_at=now,
    )
    db.add(row)
    msg.updated_at = now
    await db.flush()
    # §11.1 / §15.1: an admin's comment on a message someone else handles.
    if is_manager(principal) and msg.assignee_id not in (None, principal.user.id):
        assert msg.assignee_id is not None
        await notify(
            db,
            tenant_id=principal.tenant_id,
            user_id=msg.assignee_id,
            kind="leave_message_commented",
            data={**_ref(msg), "text": body[:200], **_actor(principal)},
        )
    return row
