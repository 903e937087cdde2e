"""Transfers (§3.5, §3.6), confirmations, and reassigning ended conversations (§3.10).

A transfer to an agent ignores their max concurrent but not the 200 cap or Offline; with the
"transfer requires confirmation" switch it waits for the target, who accepts or rejects before
the tenant's expiry. A transfer to a group dispatches inside it or joins its queue.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from fastapi.encoders import jsonable_encoder
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.conversations import actions, dispatch
from kefu.conversations.hooks import HOOKS
from kefu.conversations.models import Conversation, Segment
from kefu.conversations.presenters import visitor_name
from kefu.core import clock
from kefu.core.errors import ApiError, register_codes
from kefu.events.bus import emit
from kefu.events.types import CapacityFreed, TransferRequestChanged
from kefu.presence.actions import status_of
from kefu.routing import membership
from kefu.routing.models import SkillGroup, TransferRequest
from kefu.routing.queueing import give, place
from kefu.routing.waiting_schemas import TransferRequestOut
from kefu.tenants.models import Tenant
from kefu.visitors.models import Visitor
from kefu.workers.scheduler import cancel_timer, schedule_timer

EXPIRE_TIMER = "transfer.expire"

register_codes(
    {
        "transfer_target_required": (
            422,
            "请选择要转接的客服或技能组",
            "Choose an agent or a skill group to transfer to",
        ),
        "transfer_to_self": (422, "不能转接给自己", "You cannot transfer to yourself"),
        "transfer_target_offline": (
            409,
            "对方已离线，无法转接",
            "The agent is offline and cannot take transfers",
        ),
        "agent_at_hard_cap": (
            409,
            "该客服的进行中会话已达 200 个上限",
            "The agent already holds the maximum of 200 ongoing conversations",
        ),
        "skill_group_empty": (
            409,
            "该技能组没有成员，不能转接",
            "This skill group has no members and cannot take transfers",
        ),
        "transfer_agent_not_in_group": (
            422,
            "所选客服不在该技能组中",
            "The chosen agent is not a member of that skill group",
        ),
        "transfer_pending": (
            409,
            "该会话已有一个等待对方确认的转接",
            "This conversation already has a transfer waiting for confirmation",
        ),
        "transfer_request_closed": (
            409,
            "该转接请求已处理或已过期",
            "This transfer request was already handled or has expired",
        ),
        "conversation_not_waiting": (
            409,
            "该会话已不在待接入队列中",
            "This conversation is no longer waiting",
        ),
        "manual_pickup_disabled": (
            403,
            "管理员已关闭手动接入",
            "Manual pickup is turned off by your administrator",
        ),
        "waiting_detail_disabled": (
            403,
            "管理员未开放待接入会话详情",
            "Viewing waiting conversations is turned off by your administrator",
        ),
        "conversation_not_ended": (
            409,
            "只能分配已结束的会话",
            "Only ended conversations can be reassigned",
        ),
        "visitor_has_open_conversation": (
            409,
            "该访客已有进行中或排队中的会话",
            "This visitor already has a waiting or ongoing conversation",
        ),
    }
)


async def request_view(db: AsyncSession, req: TransferRequest) -> TransferRequestOut:
    conv = await db.get(Conversation, req.conversation_id)
    visitor = await db.get(Visitor, conv.visitor_id) if conv is not None else None
    source = await db.get(User, req.from_agent_id) if req.from_agent_id else None
    target = await db.get(User, req.to_agent_id)
    assert target is not None
    return TransferRequestOut.model_validate(
        {
            "id": req.id,
            "conversation_id": req.conversation_id,
            "from_agent": {"id": source.id, "nickname": source.nickname} if source else None,
            "to_agent": {"id": target.id, "nickname": target.nickname},
            "to_group_id": req.to_group_id,
            "visitor_name": visitor_name(visitor, conv.visitor_id) if conv else "",
            "state": req.state,
            "created_at": req.created_at,
            "expires_at": req.expires_at,
        }
    )


async def _announce(db: AsyncSession, req: TransferRequest, frame_type: str) -> None:
    view = await request_view(db, req)
    users = [u for u in (req.to_agent_id, req.from_agent_id) if u is not None]
    if frame_type == "transfer.requested":
        users = [req.to_agent_id]
    emit(
        db,
        TransferRequestChanged(
            tenant_id=req.tenant_id,
            user_ids=users,
            frame={"type": frame_type, "request": jsonable_encoder(view)},
        ),
    )


async def _end_segment(db: AsyncSession, conv: Conversation) -> int | None:
    """Close the holder's participation as transferred out; returns who held it."""
    holder = conv.agent_id
    segment = await actions.current_segment(db, conv)
    if segment is not None:
        segment.ended_at = clock.now()
        segment.end_reason = "transferred_out"
    return holder


async def _group_in_tenant(db: AsyncSession, tenant_id: int, group_id: int) -> SkillGroup:
    group = await db.get(SkillGroup, group_id)
    if group is None or group.tenant_id != tenant_id:
        raise ApiError("not_found")
    return group


async def _check_target_agent(
    db: AsyncSession, tenant_id: int, agent_id: int, group: SkillGroup | None
) -> User:
    target = await db.get(User, agent_id)
    if target is None or target.tenant_id != tenant_id or not target.enabled:
        raise ApiError("not_found")
    if group is not None and agent_id not in await membership.member_ids(db, tenant_id, group):
        raise ApiError("transfer_agent_not_in_group")
    if await status_of(db, tenant_id=tenant_id, user_id=agent_id) == "offline":
        raise ApiError("transfer_target_offline")
    if await dispatch.ongoing_of(db, tenant_id, agent_id) >= dispatch.HARD_CAP:
        raise ApiError("agent_at_hard_cap")
    return target


async def move_to_agent(
    db: AsyncSession, conv: Conversation, target: User, group: SkillGroup | None
) -> None:
    """Hand the conversation to `target` now (checks done by the caller, under the lock)."""
    was_waiting = conv.state == "waiting"
    previous = await _end_segment(db, conv)
    if group is not None:
        conv.skill_group_id = None if group.builtin is not None else group.id
    conv.target_agent_id = None
    snap = await dispatch.snapshot(db, await _tenant(db, conv.tenant_id))
    extra = (previous,) if previous is not None else ()
    await give(
        db, snap, conv, target.id, reason="transferred_in", transfer=True, extra_agent_ids=extra
    )
    if was_waiting:
        actions.queue_changed(db, conv.tenant_id)
    if previous is not None:
        emit(db, CapacityFreed(tenant_id=conv.tenant_id))


async def _tenant(db: AsyncSession, tenant_id: int) -> Tenant:
    tenant = await db.get(Tenant, tenant_id)
    assert tenant is not None
    return tenant


async def move_to_group(db: AsyncSession, conv: Conversation, group: SkillGroup) -> str:
    """Put the conversation in `group`'s hands: dispatch inside it or wait in its queue."""
    if not await membership.member_ids(db, conv.tenant_id, group):
        raise ApiError("skill_group_empty")
    previous = await _end_segment(db, conv)
    conv.state = "waiting"
    conv.agent_id = None
    conv.agent_read_seq = 0
    conv.skill_group_id = None if group.builtin is not None else group.id
    conv.target_agent_id = None
    conv.queued_at = clock.now()
    conv.routed_by = "transfer"
    # Whoever transferred it away does not get it back from this queue (place or a later drain).
    conv.transferred_from_id = previous
    # Waiting timers start again for this wait (a dispatch below cancels them at once).
    for _, hook in HOOKS.after_requeue:
        await hook(db, conv)
    outcome = await place(db, conv, transfer=True, previous_agent_id=previous)
    if previous is not None:
        emit(db, CapacityFreed(tenant_id=conv.tenant_id))
    return outcome


async def transfer(
    db: AsyncSession,
    principal: Principal,
    conv: Conversation,
    *,
    agent_id: int | None,
    skill_group_id: int | None,
    from_queue: bool,
) -> tuple[Literal["transferred", "pending", "queued"], TransferRequest | None]:
    """Transfer the caller's ongoing conversation (or, for admins, a waiting one)."""
    if agent_id is None and skill_group_id is None:
        raise ApiError("transfer_target_required")
    await dispatch.lock_tenant_dispatch(db, principal.tenant_id)
    await db.refresh(conv, with_for_update=True)
    if from_queue:
        if conv.state != "waiting":
            raise ApiError("conversation_not_waiting")
    elif conv.state != "ongoing" or conv.agent_id != principal.user.id:
        raise ApiError("conversation_not_yours")
    group = (
        await _group_in_tenant(db, principal.tenant_id, skill_group_id)
        if skill_group_id is not None
        else None
    )
    if agent_id is None:
        assert group is not None
        outcome = await move_to_group(db, conv, group)
        return ("transferred" if outcome == "assigned" else "queued"), None
    if agent_id == principal.user.id and not from_queue:
        raise ApiError("transfer_to_self")
    target = await _check_target_agent(db, principal.tenant_id, agent_id, group)
    switches = principal.tenant.switches or {}
    if switches.get("transfer_confirmation", False) and not from_queue:
        return "pending", await _request(db, principal, conv, target, group)
    await move_to_agent(db, conv, target, group)
    return "transferred", None


async def _request(
    db: AsyncSession,
    principal: Principal,
    conv: Conversation,
    target: User,
    group: SkillGroup | None,
) -> TransferRequest:
    pending = await db.scalar(
        select(TransferRequest.id).where(
            TransferRequest.conversation_id == conv.id, TransferRequest.state == "pending"
        )
    )
    if pending is not None:
        raise ApiError("transfer_pending")
    settings = await dispatch.dispatch_settings(db, principal.tenant_id)
    now = clock.now()
    req = TransferRequest(
        tenant_id=principal.tenant_id,
        conversation_id=conv.id,
        from_agent_id=principal.user.id,
        to_agent_id=target.id,
        to_group_id=group.id if group is not None else None,
        state="pending",
        created_at=now,
        expires_at=now + timedelta(seconds=settings.transfer_confirm_seconds),
    )
    db.add(req)
    await db.flush()
    await schedule_timer(
        db, tenant_id=req.tenant_id, kind=EXPIRE_TIMER, subject_id=req.id, due_at=req.expires_at
    )
    await _announce(db, req, "transfer.requested")
    return req


async def _close(db: AsyncSession, req: TransferRequest, state: str) -> None:
    req.state = state
    req.decided_at = clock.now()
    await cancel_timer(db, kind=EXPIRE_TIMER, subject_id=req.id)
    await _announce(db, req, "transfer.decided")


async def decide(
    db: AsyncSession, principal: Principal, req: TransferRequest, *, accept: bool
) -> TransferRequest:
    """The target agent accepts or rejects a transfer waiting for them."""
    await dispatch.lock_tenant_dispatch(db, principal.tenant_id)
    await db.refresh(req, with_for_update=True)
    if req.state != "pending" or req.expires_at <= clock.now():
        raise ApiError("transfer_request_closed")
    if not accept:
        await _close(db, req, "rejected")
        return req
    conv = await db.get(Conversation, req.conversation_id)
    assert conv is not None
    await db.refresh(conv, with_for_update=True)
    if conv.state != "ongoing" or conv.agent_id != req.from_agent_id:
        await _close(db, req, "cancelled")
        return req
    group = await db.get(SkillGroup, req.to_group_id) if req.to_group_id else None
    if await dispatch.ongoing_of(db, principal.tenant_id, principal.user.id) >= dispatch.HARD_CAP:
        raise ApiError("agent_at_hard_cap")
    await move_to_agent(db, conv, principal.user, group)
    await _close(db, req, "accepted")
    return req


async def expire(db: AsyncSession, request_id: int) -> None:
    """The expiry timer: a transfer nobody answered fails; the conversation stays put."""
    req = await db.get(TransferRequest, request_id, with_for_update=True)
    if req is not None and req.state == "pending":
        await _close(db, req, "expired")


async def reassign(
    db: AsyncSession,
    principal: Principal,
    conv: Conversation,
    *,
    agent_id: int | None,
    skill_group_id: int | None,
) -> Conversation:
    """An admin gives an ended conversation's visitor a new conversation (§3.10)."""
    if agent_id is None and skill_group_id is None:
        raise ApiError("transfer_target_required")
    if conv.state != "ended":
        raise ApiError("conversation_not_ended")
    await dispatch.lock_tenant_dispatch(db, principal.tenant_id)
    if await actions.open_conversation_of(db, conv.visitor_id) is not None:
        raise ApiError("visitor_has_open_conversation")
    # Imported here: the blacklist domain builds on conversations and routing.
    from kefu.blacklist.actions import ensure_not_blacklisted

    await ensure_not_blacklisted(db, principal.tenant_id, conv.visitor_id)
    group = (
        await _group_in_tenant(db, principal.tenant_id, skill_group_id)
        if skill_group_id is not None
        else None
    )
    target = (
        await _check_target_agent(db, principal.tenant_id, agent_id, group)
        if agent_id is not None
        else None
    )
    now = clock.now()
    new = Conversation(
        tenant_id=conv.tenant_id,
        visitor_id=conv.visitor_id,
        widget_id=conv.widget_id,
        association_id=conv.association_id,
        skill_group_id=(None if group is None or group.builtin is not None else group.id),
        routed_by="reassign",
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
    if target is not None:
        snap = await dispatch.snapshot(db, principal.tenant)
        await give(db, snap, new, target.id, reason="reassigned", transfer=False)
    else:
        assert group is not None
        if not await membership.member_ids(db, principal.tenant_id, group):
            raise ApiError("skill_group_empty")
        await place(db, new)
    return new


async def segments_of(db: AsyncSession, conv: Conversation) -> list[Segment]:
    return list(
        await db.scalars(
            select(Segment).where(Segment.conversation_id == conv.id).order_by(Segment.id)
        )
    )
