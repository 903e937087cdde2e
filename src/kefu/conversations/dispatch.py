"""Choosing the agent for a waiting conversation (SPEC §5.4–§5.7, §5.12).

A dispatch pass runs under the tenant's dispatch lock (a PostgreSQL advisory transaction lock;
SQLite has one writer at a time) and reads a fresh snapshot of the tenant's agents after taking
it, so two processes never over-fill an agent or assign one conversation twice. Every operation
that changes an agent's load by choice (auto-dispatch, pickup, transfer, reassign) takes the
same lock.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.automations.actions import remember_settings
from kefu.automations.models import AutomationSettings
from kefu.conversations.accepted_today import accepted_today
from kefu.conversations.models import AgentLoad, Conversation, Segment
from kefu.core import clock
from kefu.core.db import still_current
from kefu.core.errors import register_codes
from kefu.presence.models import Presence
from kefu.routing import membership
from kefu.routing.models import DispatchSettings, SkillGroup, SkillGroupMember
from kefu.routing.time_plans import is_working, plan_of
from kefu.tenants.models import Tenant

HARD_CAP = 200  # ongoing conversations one agent may hold (§2.3)

register_codes(
    {
        "queue_full": (
            429,
            "当前咨询人数较多，请稍后再试",
            "Our agents are very busy right now; please try again later",
        ),
    }
)
STATUS_ORDER = {"idle": 0, "busy": 1, "away": 2, "invisible": 3, "offline": 4}


@dataclass(frozen=True)
class Candidate:
    user_id: int
    max_concurrent: int
    ongoing: int
    accepted_today: int

    @property
    def idle_ratio(self) -> float:
        return (self.max_concurrent - self.ongoing) / self.max_concurrent


def eligible(c: Candidate) -> bool:
    """§5.5 step 1: an Idle agent (callers pass only those) with an idle ratio above 0."""
    return c.max_concurrent > 0 and c.ongoing < HARD_CAP and c.idle_ratio > 0


def choose(candidates: list[Candidate], rng: random.Random | None = None) -> Candidate | None:
    """§5.5: highest idle ratio (> 0), then the lowest workload today, then random."""
    pool = [c for c in candidates if eligible(c)]
    if not pool:
        return None
    best_ratio = max(c.idle_ratio for c in pool)
    tied = [c for c in pool if c.idle_ratio == best_ratio]
    least = min(c.accepted_today for c in tied)
    tied = [c for c in tied if c.accepted_today == least]
    return (rng or random).choice(tied)


def choose_least_loaded(
    candidates: list[Candidate], rng: random.Random | None = None
) -> Candidate | None:
    """§5.12 (a): the agent serving the fewest now; ties are random, not the first seat."""
    pool = [c for c in candidates if eligible(c)]
    if not pool:
        return None
    least = min(c.ongoing for c in pool)
    return (rng or random).choice([c for c in pool if c.ongoing == least])


async def lock_tenant_dispatch(db: AsyncSession, tenant_id: int) -> None:
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(text("SELECT pg_advisory_xact_lock(7301, :t)"), {"t": tenant_id})


def start_of_today(tenant: Tenant) -> datetime:
    zone = ZoneInfo(tenant.time_zone)
    local = clock.now().astimezone(zone)
    return datetime.combine(local.date(), time.min, tzinfo=zone)


async def ongoing_counts(db: AsyncSession, tenant_id: int) -> dict[int, int]:
    """Each agent's ongoing conversations (`AgentLoad`; agents serving none are left out)."""
    rows = await db.execute(
        select(AgentLoad.user_id, AgentLoad.ongoing)
        .join(User, User.id == AgentLoad.user_id)
        .where(User.tenant_id == tenant_id, AgentLoad.ongoing > 0)
    )
    return {agent: n for agent, n in rows.all()}


async def ongoing_of(db: AsyncSession, tenant_id: int, user_id: int) -> int:
    return (
        await db.scalar(
            select(AgentLoad.ongoing)
            .join(User, User.id == AgentLoad.user_id)
            .where(User.tenant_id == tenant_id, AgentLoad.user_id == user_id)
        )
    ) or 0


_SETTINGS_KEY = "dispatch_settings"  # db.info: tenant id → row read by `tenant_config`


async def dispatch_settings(db: AsyncSession, tenant_id: int) -> DispatchSettings:
    """The tenant's dispatch settings row, created with the defaults on first use."""
    kept = db.info.get(_SETTINGS_KEY, {}).get(tenant_id)
    if kept is not None and still_current(kept):
        return kept  # type: ignore[no-any-return]
    found = await db.scalar(select(DispatchSettings).where(DispatchSettings.tenant_id == tenant_id))
    if found is not None:
        return found
    row = DispatchSettings(
        tenant_id=tenant_id,
        rule_order=["entry", "association", "channel"],
        priority_levels=[],
        group_priority=[],
        returning_customer="last",
        updated_at=clock.now(),
    )
    db.add(row)
    await db.flush()
    return row


# The tenant's skill groups, each with those of the given users (`users`) who are members.
_GROUPS_AND_FREE_MEMBERS = (
    select(SkillGroup, SkillGroupMember.user_id)
    .outerjoin(
        SkillGroupMember,
        (SkillGroupMember.skill_group_id == SkillGroup.id)
        & SkillGroupMember.user_id.in_(bindparam("users", expanding=True)),
    )
    .where(SkillGroup.tenant_id == bindparam("tenant_id"))
)

_TENANT_CONFIG = (
    select(Tenant, DispatchSettings, AutomationSettings)
    .outerjoin(DispatchSettings, DispatchSettings.tenant_id == Tenant.id)
    .outerjoin(AutomationSettings, AutomationSettings.tenant_id == Tenant.id)
    .where(Tenant.id == bindparam("tenant_id"))
)


async def tenant_config(db: AsyncSession, tenant_id: int) -> Tenant | None:
    """The tenant, with its dispatch and automation settings rows read in the same statement
    and kept for the session (`dispatch_settings`, `automations.actions.settings_row`): a
    dispatch pass needs all three, and each statement costs about 0.3 ms of the pass."""
    row = (await db.execute(_TENANT_CONFIG, {"tenant_id": tenant_id})).one_or_none()
    if row is None:
        return None
    tenant, settings, automation = row
    if settings is not None:
        db.info.setdefault(_SETTINGS_KEY, {})[tenant_id] = settings
    remember_settings(db, tenant_id, automation)
    return tenant


@dataclass
class Agent:
    user_id: int
    max_concurrent: int
    status: str
    ongoing: int
    accepted_today: int

    def candidate(self) -> Candidate:
        return Candidate(self.user_id, self.max_concurrent, self.ongoing, self.accepted_today)

    @property
    def free(self) -> bool:
        """Idle with room for one more by auto-dispatch (`eligible`, without building a
        Candidate: it is asked for every agent of a pool on every choice)."""
        mc, ongoing = self.max_concurrent, self.ongoing
        return self.status == "idle" and mc > 0 and ongoing < HARD_CAP and ongoing < mc


@dataclass
class Snapshot:
    """The tenant as one dispatch pass sees it, updated in memory as it assigns."""

    tenant: Tenant
    settings: DispatchSettings
    agents: dict[int, Agent]
    groups: dict[int, SkillGroup]
    members: dict[int, set[int]]
    ungrouped: set[int]
    ungrouped_group: SkillGroup
    rng: random.Random = field(default_factory=random.Random)
    _working: dict[int | None, bool] = field(default_factory=dict)
    _pools: dict[int, set[int]] = field(default_factory=dict)
    # Groups whose conversations waited only because they are outside working time.
    closed_groups: set[int | None] = field(default_factory=set)
    # visitor -> previous agents, read for a whole drain pass at once (see `prefetch_history`).
    history: dict[int, list[int]] = field(default_factory=dict)
    # A free-only snapshot (`snapshot(free_only=True)`) knows only the free agents, so it
    # cannot tell from `pool` whether a broadcast group has any agent: these groups do.
    broadcasting: set[int] | None = None

    @property
    def switches(self) -> dict[str, Any]:
        return self.tenant.switches or {}

    def group(self, group_id: int | None) -> SkillGroup:
        """The conversation's group row (None or a deleted group = Ungrouped)."""
        if group_id is None:
            return self.ungrouped_group
        return self.groups.get(group_id, self.ungrouped_group)

    def pool(self, group_id: int | None, target_agent_id: int | None = None) -> set[int]:
        """The agents a conversation of this group may go to."""
        if target_agent_id is not None:
            return {target_agent_id} & self.agents.keys()
        if group_id is None or group_id not in self.groups:
            return self.ungrouped  # already a subset of the agents
        found = self._pools.get(group_id)
        if found is None:  # (not setdefault: its default would be built on every call)
            found = self._pools[group_id] = self.members.get(group_id, set()) & self.agents.keys()
        return found

    def has_agents(self, group_id: int) -> bool:
        """Whether a broadcast group has an agent member (of any status)."""
        if self.broadcasting is not None:
            return group_id in self.broadcasting
        return bool(self.pool(group_id))

    def free_agents(self) -> set[int]:
        return {uid for uid, a in self.agents.items() if a.free}

    async def working(self, db: AsyncSession, group_id: int | None) -> bool:
        """Whether the group's time plan is working now (cached for the pass)."""
        key = group_id if group_id in self.groups else None
        if key not in self._working:
            group = self.group(key)
            plan = await plan_of(db, self.tenant.id, group.time_plan_id)
            self._working[key] = is_working(plan, self.tenant.time_zone, clock.now())
        return self._working[key]

    def took(self, user_id: int) -> None:
        agent = self.agents.get(user_id)
        if agent is not None:
            agent.ongoing += 1
            agent.accepted_today += 1

    def group_rank(self, group_id: int | None) -> int:
        """Agent capacity allocation (§5.6): prioritised groups' conversations go first."""
        if not self.settings.capacity_allocation:
            return 0
        order = [int(g) for g in (self.settings.group_priority or [])][:5]
        key = group_id if group_id is not None else self.ungrouped_group.id
        return order.index(key) if key in order else len(order)


async def snapshot(db: AsyncSession, tenant: Tenant, *, free_only: bool = False) -> Snapshot:
    """Read agents, loads, groups and settings (call after taking the dispatch lock).

    `free_only` (a drain pass): only the agents auto-dispatch can give a conversation to now
    (`Agent.free`), filtered in SQL. A pass chooses among those alone, and with a queue the
    other agents are full: reading all of a large tenant's agents, loads and memberships into
    Python was most of a pass that assigns one freed slot (see `Snapshot.broadcasting`)."""
    # The agents (`membership.agent_ids`) with their capacity and status, in one statement.
    roles = await membership.agent_role_ids(db, tenant.id)
    agents: dict[int, Agent]
    if free_only:
        free = (await db.execute(FREE_AGENTS, {"tenant_id": tenant.id, "role_ids": roles})).all()
        accepted = await accepted_today(db, tenant, start_of_today(tenant)) if free else {}
        agents = {
            uid: Agent(uid, mc, "idle", ongoing, accepted.get(uid, 0)) for uid, mc, ongoing in free
        }
    else:
        rows = (
            await db.execute(
                select(User.id, User.max_concurrent, Presence.status)
                .outerjoin(Presence, Presence.user_id == User.id)
                .where(User.tenant_id == tenant.id, User.enabled.is_(True), User.role_id.in_(roles))
            )
        ).all()
        ongoing = await ongoing_counts(db, tenant.id)
        accepted = await accepted_today(db, tenant, start_of_today(tenant))
        agents = {
            uid: Agent(uid, mc, status or "offline", ongoing.get(uid, 0), accepted.get(uid, 0))
            for uid, mc, status in rows
        }
    # Every group row at once, Ungrouped's included (it is created on first use); a drain
    # pass reads its free agents' memberships in the same statement.
    groups: dict[int, SkillGroup] = {}
    ungrouped_group: SkillGroup | None = None
    members: dict[int, set[int]] = {}
    params = {"tenant_id": tenant.id, "users": sorted(agents) if free_only else []}
    for g, member in await db.execute(_GROUPS_AND_FREE_MEMBERS, params):
        if g.builtin is None:
            groups[g.id] = g
            if member is not None:
                members.setdefault(g.id, set()).add(member)
        elif g.builtin == membership.UNGROUPED:
            ungrouped_group = g
    if ungrouped_group is None:
        ungrouped_group = await membership.ensure_ungrouped(db, tenant.id)
    if not free_only:
        members = await membership.memberships(db, tenant.id)
    broadcasting: set[int] | None = None
    if free_only:
        shared = {g for g, row in groups.items() if row.assignment_mode == "broadcast"}
        broadcasting = await membership.groups_with_agents(db, tenant.id, shared, roles)
    grouped = set().union(*members.values()) if members else set()
    return Snapshot(
        tenant=tenant,
        settings=await dispatch_settings(db, tenant.id),
        agents=agents,
        groups=groups,
        members=members,
        ungrouped=set(agents) - grouped,
        ungrouped_group=ungrouped_group,
        broadcasting=broadcasting,
    )


def _free_agents() -> Select[int, int, int]:
    """(user id, max concurrent, ongoing) of the agents auto-dispatch may give one more to now
    (`Agent.free`), their loads from `AgentLoad`. Parameters: `tenant_id`, `role_ids` (a list)."""
    load = func.coalesce(AgentLoad.ongoing, 0)
    return (
        select(User.id, User.max_concurrent, load)
        .join(Presence, Presence.user_id == User.id)
        .outerjoin(AgentLoad, AgentLoad.user_id == User.id)
        .where(
            User.tenant_id == bindparam("tenant_id"),
            User.enabled.is_(True),
            User.role_id.in_(bindparam("role_ids", expanding=True)),
            Presence.status == "idle",
            User.max_concurrent > 0,
            load < User.max_concurrent,
            load < HARD_CAP,
        )
    )


# Built once: every drain pass runs it, and building a statement with a subquery each time cost
# CPU and left a few dozen objects in reference cycles per pass for the cycle collector, whose
# runs then paused the event loop for 20 ms and more (bench/README.md, session 16).
FREE_AGENTS = _free_agents()


class Waiting(Protocol):
    """What choosing an agent reads of a waiting conversation (a row or a Conversation)."""

    @property
    def visitor_id(self) -> int: ...
    @property
    def skill_group_id(self) -> int | None: ...
    @property
    def target_agent_id(self) -> int | None: ...
    @property
    def transferred_from_id(self) -> int | None: ...
    @property
    def broadcast(self) -> bool: ...


def wants_history(snap: Snapshot) -> bool:
    """Whether choosing may look at who served a visitor before (§5.7, §5.12 a)."""
    if snap.switches.get("returning_customer_first", False):
        return True
    return any(
        g.assignment_mode == "least_loaded" and g.prefer_previous for g in snap.groups.values()
    )


async def prefetch_history(db: AsyncSession, snap: Snapshot, visitor_ids: set[int]) -> None:
    """`previous_agents` of many visitors in one query, kept on the snapshot for the pass."""
    todo = visitor_ids - snap.history.keys()
    if not todo or not wants_history(snap):
        return
    rows = await db.execute(
        select(Conversation.visitor_id, Segment.agent_id)
        .join(Conversation, Conversation.id == Segment.conversation_id)
        .where(
            Conversation.tenant_id == snap.tenant.id,
            Conversation.visitor_id.in_(todo),
            Segment.agent_id.is_not(None),
        )
        .order_by(Conversation.visitor_id, Segment.started_at.desc(), Segment.id.desc())
    )
    found: dict[int, list[int]] = {v: [] for v in todo}
    for visitor_id, agent_id in rows.all():
        seen = found[visitor_id]
        if agent_id is not None and len(seen) < 500:
            seen.append(agent_id)
    snap.history.update(found)


async def previous_agents(db: AsyncSession, tenant_id: int, visitor_id: int) -> list[int]:
    """Agents who served the visitor before, most recent first (one entry per segment)."""
    rows = await db.scalars(
        select(Segment.agent_id)
        .join(Conversation, Conversation.id == Segment.conversation_id)
        .where(
            Conversation.tenant_id == tenant_id,
            Conversation.visitor_id == visitor_id,
            Segment.agent_id.is_not(None),
        )
        .order_by(Segment.started_at.desc(), Segment.id.desc())
        .limit(500)
    )
    return [a for a in rows if a is not None]


async def preferred_agent(
    db: AsyncSession, snap: Snapshot, conv: Waiting, group: SkillGroup
) -> int | None:
    """Returning-customer preference (§5.7) or the group's 'prefer previous agent' (§5.12 a)."""
    by_group = group.assignment_mode == "least_loaded" and group.prefer_previous
    if not by_group and not snap.switches.get("returning_customer_first", False):
        return None
    history = snap.history.get(conv.visitor_id)
    if history is None:
        history = await previous_agents(db, snap.tenant.id, conv.visitor_id)
    if not history:
        return None
    if by_group or snap.settings.returning_customer != "most":
        return history[0]
    counts = Counter(history)
    best = max(counts.values())
    # Most often; among equals, the one who served most recently.
    return next(a for a in history if counts[a] == best)


async def pick(
    db: AsyncSession, snap: Snapshot, conv: Waiting, *, exclude: int | None = None
) -> int | None:
    """The agent a waiting conversation goes to now, or None to keep it waiting.

    `exclude`: the agent who just transferred it away does not get it straight back.
    """
    if conv.broadcast:
        return None
    group = snap.group(conv.skill_group_id)
    if snap.switches.get("dispatch_only_in_hours", False) and not await snap.working(
        db, conv.skill_group_id
    ):
        snap.closed_groups.add(conv.skill_group_id)
        return None
    pool = snap.pool(conv.skill_group_id, conv.target_agent_id)
    if exclude is not None or conv.transferred_from_id is not None:
        pool = pool - {exclude, conv.transferred_from_id}
    agents = snap.agents
    # `Agent.free`, inlined: this runs for every agent of the pool on every choice of a pass.
    free = [
        a
        for u in pool
        if (a := agents[u]).status == "idle"
        and a.ongoing < a.max_concurrent
        and a.ongoing < HARD_CAP
    ]
    if not free:
        return None
    preferred = await preferred_agent(db, snap, conv, group)
    if preferred is not None and any(a.user_id == preferred for a in free):
        return preferred
    # `free` holds only eligible agents, so `choose_least_loaded` / `choose` on the Candidates
    # of all of them would keep the tied ones (in this order) and draw one: drawn here at once.
    if group.assignment_mode == "least_loaded":
        least = min(a.ongoing for a in free)
        return int(snap.rng.choice([a for a in free if a.ongoing == least]).user_id)
    # One pass: the highest idle ratio, then the fewest accepted today among those.
    best, fewest, tied = -1.0, 0, list[Agent]()
    for a in free:
        ratio = (a.max_concurrent - a.ongoing) / a.max_concurrent
        if ratio > best or (ratio == best and a.accepted_today < fewest):
            best, fewest, tied = ratio, a.accepted_today, [a]
        elif ratio == best and a.accepted_today == fewest:
            tied.append(a)
    return int(snap.rng.choice(tied).user_id)


async def waiting_count(db: AsyncSession, tenant_id: int) -> int:
    return (
        await db.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.tenant_id == tenant_id, Conversation.state == "waiting")
        )
    ) or 0


def waiting_cap(tenant: Tenant) -> int:
    """The tenant's waiting cap (§3.2): 1000, or seats × 200 with more than 5 seats."""
    return tenant.seats * 200 if tenant.seats > 5 else 1000
