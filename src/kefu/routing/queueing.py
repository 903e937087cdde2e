"""Placing conversations in groups, dispatching them and draining the waiting queue (§3.3, §5.4).

Every function here runs under the tenant's dispatch lock (see conversations/dispatch.py) in the
caller's transaction.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.conversations import actions, dispatch
from kefu.conversations.models import Conversation
from kefu.core import clock
from kefu.core.errors import ApiError
from kefu.events.bus import emit
from kefu.events.types import CapacityFreed
from kefu.routing import greetings, membership, overflow
from kefu.routing.plan_clock import next_opening, wake_queue_at
from kefu.routing.priority import priority_rank
from kefu.routing.time_plans import plan_of
from kefu.tenants.models import Tenant
from kefu.visitors.models import Visitor


async def _tenant(db: AsyncSession, tenant_id: int) -> Tenant:
    tenant = await db.get(Tenant, tenant_id)
    assert tenant is not None
    return tenant


def _broadcasts(snap: dispatch.Snapshot, group_id: int | None) -> bool:
    """The group shares its conversations with every member (§5.12 b) and has members."""
    if group_id is None or group_id not in snap.groups:
        return False
    return snap.groups[group_id].assignment_mode == "broadcast" and bool(snap.pool(group_id))


async def give(
    db: AsyncSession,
    snap: dispatch.Snapshot,
    conv: Conversation,
    agent_id: int,
    *,
    reason: str,
    transfer: bool,
    extra_agent_ids: tuple[int, ...] = (),
    announce_queue: bool = True,
) -> None:
    """Assign to an agent chosen under the lock, and greet for them."""
    agent = await db.get(User, agent_id)
    assert agent is not None
    await actions.assign(
        db, conv, agent, reason, extra_agent_ids=extra_agent_ids, announce_queue=announce_queue
    )
    snap.took(agent_id)
    working = await snap.working(db, conv.skill_group_id)
    await greetings.on_agent(db, snap.tenant, conv, agent, working=working, transfer=transfer)


async def place(
    db: AsyncSession,
    conv: Conversation,
    *,
    transfer: bool = False,
    previous_agent_id: int | None = None,
) -> str:
    """A conversation now waiting for its group: greet, dispatch, or queue (with overflow).

    Returns "assigned" or "queued".
    """
    tenant = await _tenant(db, conv.tenant_id)
    await dispatch.lock_tenant_dispatch(db, tenant.id)
    snap = await dispatch.snapshot(db, tenant)
    visitor = await db.get(Visitor, conv.visitor_id)
    if visitor is not None:
        conv.priority_rank = await priority_rank(db, visitor)
    group = snap.group(conv.skill_group_id)
    working = await snap.working(db, conv.skill_group_id)
    if conv.target_agent_id is None:
        await greetings.on_group(db, tenant, conv, group, working=working, transfer=transfer)
    extra = (previous_agent_id,) if previous_agent_id is not None else ()
    if _broadcasts(snap, conv.skill_group_id) and conv.target_agent_id is None:
        await actions.share_with_group(db, conv)
        return "assigned"
    agent_id = await dispatch.pick(db, snap, conv, exclude=previous_agent_id)
    if agent_id is None and await overflow.on_queued(db, snap, conv):
        agent_id = await dispatch.pick(db, snap, conv, exclude=previous_agent_id)
    if agent_id is not None:
        reason = "transferred_in" if transfer else "assigned"
        await give(
            db, snap, conv, agent_id, reason=reason, transfer=transfer, extra_agent_ids=extra
        )
        return "assigned"
    if transfer:
        await actions.log_event(
            db,
            conv,
            "conversation.queued",
            extra_agent_ids=extra,
            skill_group={"id": group.id, "name": group.name},
        )
    await wake_when_open(db, snap)
    await actions.queue_changed(db, tenant.id)
    return "queued"


async def wake_when_open(db: AsyncSession, snap: dispatch.Snapshot) -> None:
    """Conversations held back by hours-only dispatch are dispatched when their group opens."""
    dues = []
    for group_id in snap.closed_groups:
        plan = await plan_of(db, snap.tenant.id, snap.group(group_id).time_plan_id)
        due = next_opening(plan, snap.tenant.time_zone, clock.now())
        if due is not None:
            dues.append(due)
    if dues:
        await wake_queue_at(db, snap.tenant.id, min(dues))


# Assignments per drain transaction: bounds how long one drain holds the write lock; a full
# drain continues in a fresh transaction (CapacityFreed again).
MAX_PER_DRAIN = 100


def _reachable(snap: dispatch.Snapshot, free: set[int]) -> ColumnElement[bool] | None:
    """SQL filter for waiting conversations some free agent (or a broadcast group) can take."""
    open_groups = [g for g, users in snap.members.items() if users & free]
    open_groups += [g for g in snap.groups if _broadcasts(snap, g)]
    by_group: ColumnElement[bool] | None = (
        Conversation.skill_group_id.in_(open_groups) if open_groups else None
    )
    if snap.ungrouped & free:
        none = Conversation.skill_group_id.is_(None)
        by_group = none if by_group is None else or_(by_group, none)
    conds: list[ColumnElement[bool]] = []
    if by_group is not None:
        conds.append(Conversation.target_agent_id.is_(None) & by_group)
    if free:
        conds.append(Conversation.target_agent_id.in_(free))
    return or_(*conds) if conds else None


async def drain(db: AsyncSession, tenant_id: int, limit: int = MAX_PER_DRAIN) -> int:
    """Assign waiting conversations in queue order while agents have room."""
    tenant = await db.get(Tenant, tenant_id)
    if tenant is None:
        return 0
    await dispatch.lock_tenant_dispatch(db, tenant_id)
    snap = await dispatch.snapshot(db, tenant)
    free = snap.free_agents()
    reachable = _reachable(snap, free)
    if reachable is None:
        return 0
    # Only conversations a free agent could take: the rest of the queue is not read at all.
    convs = list(
        await db.scalars(
            select(Conversation)
            .where(
                Conversation.tenant_id == tenant_id,
                Conversation.state == "waiting",
                Conversation.broadcast.is_(False),
                reachable,
            )
            .order_by(Conversation.priority_rank, Conversation.queued_at, Conversation.id)
            .limit(max(limit * 20, 1000))
        )
    )
    convs.sort(
        key=lambda c: (snap.group_rank(c.skill_group_id), c.priority_rank, c.queued_at, c.id)
    )
    assigned = 0
    for conv in convs:
        if assigned >= limit:
            # More may fit: carry on in a new transaction.
            emit(db, CapacityFreed(tenant_id=tenant_id))
            break
        if _broadcasts(snap, conv.skill_group_id) and conv.target_agent_id is None:
            await actions.share_with_group(db, conv, announce_queue=False)
            assigned += 1
            continue
        if not free:
            break
        if not snap.pool(conv.skill_group_id, conv.target_agent_id) & free:
            continue
        agent_id = await dispatch.pick(db, snap, conv)
        if agent_id is None:
            continue
        await give(
            db, snap, conv, agent_id, reason="assigned", transfer=False, announce_queue=False
        )
        if not snap.agents[agent_id].free:
            free.discard(agent_id)
        assigned += 1
    await wake_when_open(db, snap)
    if assigned:
        await actions.queue_changed(db, tenant_id)
    return assigned


def is_queue_admin(principal: Principal) -> bool:
    """Admins see and may act on the whole waiting queue (§3.3)."""
    return principal.role.builtin == "admin"


async def my_queue_filter(db: AsyncSession, principal: Principal) -> ColumnElement[bool]:
    """SQL condition for the waiting conversations an ordinary agent sees: their groups'."""
    memberships = await membership.memberships(db, principal.tenant_id)
    mine = [g for g, users in memberships.items() if principal.user.id in users]
    # Agents in no group serve the Ungrouped queue.
    group_cond = (
        Conversation.skill_group_id.in_(mine) if mine else Conversation.skill_group_id.is_(None)
    )
    return or_(
        Conversation.target_agent_id == principal.user.id,
        group_cond & Conversation.target_agent_id.is_(None),
    )


async def in_my_queue(db: AsyncSession, principal: Principal, conv: Conversation) -> bool:
    if is_queue_admin(principal):
        return True
    found = await db.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(Conversation.id == conv.id, await my_queue_filter(db, principal))
    )
    return bool(found)


async def pickup(db: AsyncSession, principal: Principal, conv: Conversation) -> None:
    """Manual pickup (§3.3): the switch allows it (admins always); the 200 cap still holds."""
    admin = is_queue_admin(principal)
    switches = principal.tenant.switches or {}
    if "agent.sessions" not in principal.pages:
        # The conversation would land in a Sessions page the role cannot open.
        raise ApiError("forbidden")
    if not admin and not switches.get("manual_pickup", True):
        raise ApiError("manual_pickup_disabled")
    await dispatch.lock_tenant_dispatch(db, principal.tenant_id)
    await db.refresh(conv, with_for_update=True)
    if not await in_my_queue(db, principal, conv):
        raise ApiError("not_found")
    if conv.state != "waiting":
        raise ApiError("conversation_not_waiting")
    if await dispatch.ongoing_of(db, principal.tenant_id, principal.user.id) >= dispatch.HARD_CAP:
        raise ApiError("agent_at_hard_cap")
    snap = await dispatch.snapshot(db, principal.tenant)
    await give(db, snap, conv, principal.user.id, reason="picked", transfer=False)
    await actions.queue_changed(db, principal.tenant_id)
