"""Placing conversations in groups, dispatching them and draining the waiting queue (§3.3, §5.4).

Every function here runs under the tenant's dispatch lock (see conversations/dispatch.py) in the
caller's transaction.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    Integer,
    bindparam,
    case,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.conversations import actions, assignment, dispatch
from kefu.conversations.models import Conversation
from kefu.core import clock
from kefu.core.errors import ApiError
from kefu.events.bus import emit
from kefu.events.types import CapacityFreed
from kefu.observability.metrics import timed_drain
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
    return snap.groups[group_id].assignment_mode == "broadcast" and snap.has_agents(group_id)


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
    await assignment.assign(
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
    actions.queue_changed(db, tenant.id)
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
# drain continues in a fresh transaction (CapacityFreed again). A pass has a fixed cost (the
# snapshot, the queue read, ~25 statements) and a small one per assignment (bulk writes):
# 250 keeps a pass near 0.1–0.25 s on 2 cores while amortising the fixed part (bench/README.md,
# "Bulk dispatch").
MAX_PER_DRAIN = 250


@dataclass(frozen=True)
class _Reach:
    """The waiting conversations some free agent (or a broadcast group) can take: those of the
    open groups, Ungrouped's when a free agent is in no group, and those targeted at a free
    agent. One definition for the SQL filter and for rows already read."""

    groups: frozenset[int]
    ungrouped: bool
    targets: frozenset[int]

    @classmethod
    def of(cls, snap: dispatch.Snapshot, free: set[int]) -> _Reach:
        open_groups = {g for g, users in snap.members.items() if users & free}
        open_groups |= {g for g in snap.groups if _broadcasts(snap, g)}
        return cls(frozenset(open_groups), bool(snap.ungrouped & free), frozenset(free))

    @property
    def empty(self) -> bool:
        return not (self.groups or self.ungrouped or self.targets)

    def sql(self) -> ColumnElement[bool] | None:
        """All of the reach as one condition (for counts; the queue read uses its parts)."""
        parts = _reach_parts(
            self.groups if self.groups else None,
            self.ungrouped,
            self.targets if self.targets else None,
        )
        return or_(*parts) if parts else None

    def has(self, row: Any) -> bool:
        if row.target_agent_id is not None:
            return bool(row.target_agent_id in self.targets)
        if row.skill_group_id is None:
            return self.ungrouped
        return bool(row.skill_group_id in self.groups)


def _reach_parts(groups: Any, ungrouped: bool, targets: Any) -> list[ColumnElement[bool]]:
    """The reach as separate conditions that each read one index range in queue order: the
    groups' untargeted conversations, Ungrouped's, and those targeted at a free agent
    (`ix_conversations_queue`, `ix_conversations_targeted`). With their OR in one statement
    SQLite uses neither index and sorts every waiting row of the tenant. `groups`, `targets`:
    ids or an expanding bound parameter (None: that part is left out)."""
    untargeted = Conversation.target_agent_id.is_(None)
    found: list[ColumnElement[bool]] = []
    if groups is not None:
        found.append(untargeted & Conversation.skill_group_id.in_(groups))
    if ungrouped:
        found.append(untargeted & Conversation.skill_group_id.is_(None))
    if targets is not None:
        found.append(Conversation.target_agent_id.in_(targets))
    return found


async def _more_beyond(
    db: AsyncSession, snap: dispatch.Snapshot, still_free: set[int], window: list[Any]
) -> bool:
    """Whether waiting conversations the still-free agents can take lie beyond the window read.

    A pass whose window filled up while some agents stayed free reads a larger window; often
    those agents have nothing to take at all (their groups' queues are empty while others' are
    long), and the larger read would be wasted: count up to one row more than the window holds.
    """
    reach = _Reach.of(snap, still_free)
    cond = reach.sql()
    if cond is None:
        return False
    seen = sum(1 for row in window if reach.has(row))
    found = await db.scalar(
        select(func.count()).select_from(
            select(Conversation.id)
            .where(
                Conversation.tenant_id == snap.tenant.id,
                Conversation.state == "waiting",
                Conversation.broadcast.is_(False),
                cond,
            )
            .limit(seen + 1)
            .subquery()
        )
    )
    return (found or 0) > seen


async def _plan(
    db: AsyncSession,
    snap: dispatch.Snapshot,
    queue: list[Any],
    free: set[int],
    limit: int,
) -> tuple[list[tuple[Any, int | None]], bool]:
    """Choose a pass's assignments in queue order, in memory: (row, agent or None to share).

    Exactly what one-at-a-time dispatch would do on the same snapshot: each choice is `pick`
    (§5.5 idle ratio → today's workload → random, returning customers, group modes) on the
    loads the earlier choices left. The second value: the limit cut the pass short.
    """
    plan: list[tuple[Any, int | None]] = []
    for row in queue:
        if len(plan) >= limit:
            return plan, True
        if _broadcasts(snap, row.skill_group_id) and row.target_agent_id is None:
            plan.append((row, None))
            continue
        if not free:
            break
        if not snap.pool(row.skill_group_id, row.target_agent_id) & free:
            continue
        agent_id = await dispatch.pick(db, snap, row)
        if agent_id is None:
            continue
        snap.took(agent_id)
        if not snap.agents[agent_id].free:
            free.discard(agent_id)
        plan.append((row, agent_id))
    return plan, False


async def _take(db: AsyncSession, ids: set[int]) -> dict[int, Conversation]:
    """The chosen conversations still waiting, row-locked (PostgreSQL: skipping rows another
    transaction holds, e.g. a visitor ending it), loaded with their current `last_seq`."""
    if not ids:
        return {}
    query = (
        select(Conversation)
        .where(Conversation.id.in_(ids), Conversation.state == "waiting")
        .execution_options(populate_existing=True)
    )
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return {c.id: c for c in await db.scalars(query)}


QUEUE_COLUMNS = (
    Conversation.id,
    Conversation.visitor_id,
    Conversation.skill_group_id,
    Conversation.target_agent_id,
    Conversation.transferred_from_id,
    Conversation.broadcast,
    Conversation.priority_rank,
    Conversation.queued_at,
)


async def _queue(
    db: AsyncSession, snap: dispatch.Snapshot, reach: _Reach, window: int
) -> list[Any]:
    """The first `window` waiting rows free agents could take, in dispatch order (§3.3, §5.6).

    Each of the reach's parts is read in queue order up to the window (one statement, UNION ALL
    of the parts); the head of their union, in the same order, is the window."""
    read = queue_read(snap, reach, window)
    if read is None:
        return []
    rows: list[Any] = list((await db.execute(*read)).all())
    ranks = {g: snap.group_rank(g) for g in {row.skill_group_id for row in rows}}
    rows.sort(key=lambda c: (ranks[c.skill_group_id], c.priority_rank, c.queued_at, c.id))
    del rows[window:]
    await dispatch.prefetch_history(db, snap, {row.visitor_id for row in rows})
    return rows


def queue_read(
    snap: dispatch.Snapshot, reach: _Reach, window: int
) -> tuple[Executable, dict[str, Any]] | None:
    """The queue read of `_queue` and its parameters (None: the reach is empty)."""
    ranked: list[int] | None = None
    params: dict[str, Any] = {
        "tenant_id": snap.tenant.id,
        "window": window,
        "groups": sorted(reach.groups),
        "targets": sorted(reach.targets),
    }
    if snap.settings.capacity_allocation:
        # Prioritised groups first (§5.6), in SQL too: the window is then the head of the queue.
        ranked = [int(g) for g in (snap.settings.group_priority or [])][:5]
        params |= {f"rank_{i}": g for i, g in enumerate(ranked)}
        params["ungrouped_rank"] = snap.group_rank(None)
    shape = (
        bool(reach.groups),
        reach.ungrouped,
        bool(reach.targets),
        None if ranked is None else len(ranked),
    )
    stmt = _queue_statement(*shape)
    return None if stmt is None else (stmt, params)


@functools.cache  # at most 2 × 2 × 2 × 7 shapes
def _queue_statement(
    groups: bool, ungrouped: bool, targets: bool, ranked: int | None
) -> Executable | None:
    """Each part of the reach read in queue order up to the window, in one statement.

    Built once per shape: a dispatch pass runs it every time, and building this union of
    subqueries per pass cost CPU and left objects in reference cycles for the cycle collector
    (see `dispatch.FREE_AGENTS`)."""
    order: list[Any] = [Conversation.priority_rank, Conversation.queued_at, Conversation.id]
    if ranked is not None:
        whens: list[tuple[ColumnElement[bool], Any]] = [
            (Conversation.skill_group_id == bindparam(f"rank_{i}"), i) for i in range(ranked)
        ]
        whens.append(
            (Conversation.skill_group_id.is_(None), bindparam("ungrouped_rank", type_=Integer))
        )
        order.insert(0, case(*whens, else_=ranked))
    reach = _reach_parts(
        bindparam("groups", expanding=True) if groups else None,
        ungrouped,
        bindparam("targets", expanding=True) if targets else None,
    )
    parts: list[Any] = [
        select(*QUEUE_COLUMNS)
        .where(
            Conversation.tenant_id == bindparam("tenant_id"),
            Conversation.state == "waiting",
            Conversation.broadcast.is_(False),
            part,
        )
        .order_by(*order)
        .limit(bindparam("window"))
        for part in reach
    ]
    if len(parts) < 2:
        return parts[0] if parts else None
    return union_all(*(select(p.subquery()) for p in parts))


def _restore(snap: dispatch.Snapshot, loads: dict[int, tuple[int, int]]) -> None:
    """Undo the in-memory loads of a plan that is chosen again."""
    for uid, (ongoing, today) in loads.items():
        snap.agents[uid].ongoing, snap.agents[uid].accepted_today = ongoing, today


@timed_drain  # kefu_queue_drain_duration_seconds (docs/observability.md)
async def drain(db: AsyncSession, tenant_id: int, limit: int = MAX_PER_DRAIN) -> int:
    """Assign waiting conversations in queue order while agents have room.

    One pass: the queue a free agent can take is read once (plain rows), every assignment is
    chosen in memory from one snapshot, the chosen conversations are locked, then written
    set-wise (`assignment.assign_many`) and the queue is announced once.
    """
    await dispatch.lock_tenant_dispatch(db, tenant_id)
    tenant = await dispatch.tenant_config(db, tenant_id)
    if tenant is None:
        return 0
    snap = await dispatch.snapshot(db, tenant, free_only=True)
    free = snap.free_agents()
    reach = _Reach.of(snap, free)
    if reach.empty:
        return 0
    loads = {uid: (a.ongoing, a.accepted_today) for uid, a in snap.agents.items()}
    # Only conversations a free agent could take: the rest of the queue is not read at all.
    # Most of those are assignable, so a window of a few times what the pass can assign
    # (the limit, or the free slots when fewer: one freed slot reads a few rows, not 1,000)
    # usually fills the pass; when it does not, the pass is chosen again from the full window
    # (×20). Broadcast groups' conversations take no slot.
    window = max(limit * 4, 400)
    if not any(_broadcasts(snap, g) for g in reach.groups):
        slots = sum(min(snap.agents[u].max_concurrent, dispatch.HARD_CAP) for u in free) - sum(
            snap.agents[u].ongoing for u in free
        )
        window = min(window, max(slots * 4, 40))
    queue = await _queue(db, snap, reach, window)
    plan, more = await _plan(db, snap, queue, set(free), limit)
    still_free = {u for u in free if snap.agents[u].free}
    if (
        not more
        and len(queue) == window
        and still_free
        and await _more_beyond(db, snap, still_free, queue)
    ):
        _restore(snap, loads)
        queue = await _queue(db, snap, reach, max(limit * 20, 1000))
        plan, more = await _plan(db, snap, queue, set(free), limit)
    taken: dict[int, Conversation] = {}
    skipped: set[int] = set()
    while True:
        wanted = {row.id for row, _ in plan} - taken.keys()
        got = await _take(db, wanted)
        taken.update(got)
        if len(got) == len(wanted):
            break
        # Another transaction holds or changed some (ended meanwhile): choose again without them.
        skipped |= wanted - got.keys()
        _restore(snap, loads)
        plan, more = await _plan(
            db, snap, [r for r in queue if r.id not in skipped], set(free), limit
        )
    agent_ids = {a for _, a in plan if a is not None}
    agents = (
        {u.id: u for u in await db.scalars(select(User).where(User.id.in_(agent_ids)))}
        if agent_ids
        else {}
    )
    gives: list[tuple[Conversation, User]] = []
    for row, agent_id in plan:
        if agent_id is None:
            await actions.share_with_group(db, taken[row.id], announce_queue=False)
        else:
            gives.append((taken[row.id], agents[agent_id]))
    await assignment.assign_many(db, gives, "assigned")
    for conv, agent in gives:
        if agent.greeting_enabled and agent.greeting_text.strip():  # else on_agent does nothing
            working = await snap.working(db, conv.skill_group_id)
            await greetings.on_agent(db, snap.tenant, conv, agent, working=working, transfer=False)
    if more:
        # More may fit: carry on in a new transaction.
        emit(db, CapacityFreed(tenant_id=tenant_id))
    await wake_when_open(db, snap)
    if plan:
        actions.queue_changed(db, tenant_id)
    return len(plan)


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
    actions.queue_changed(db, principal.tenant_id)
