"""Assignment of waiting conversations to agents: load balancing of SPEC §5.5.

Routing by skill group arrives with issue 4; until then every agent is in the Ungrouped pool.
Decisions are taken under a per-tenant lock (PostgreSQL advisory lock; SQLite has one writer),
so two processes never over-fill an agent or assign one conversation twice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import role_pages
from kefu.accounts.models import User
from kefu.conversations.models import Conversation, Segment
from kefu.core import clock
from kefu.presence.models import Presence
from kefu.roles.models import Role
from kefu.tenants.models import Tenant

HARD_CAP = 200  # ongoing conversations one agent may hold (§2.3)


@dataclass(frozen=True)
class Candidate:
    user_id: int
    max_concurrent: int
    ongoing: int
    accepted_today: int

    @property
    def idle_ratio(self) -> float:
        return (self.max_concurrent - self.ongoing) / self.max_concurrent


def choose(candidates: list[Candidate], rng: random.Random | None = None) -> Candidate | None:
    """§5.5: highest idle ratio (> 0), then the lowest workload today, then random."""
    eligible = [
        c for c in candidates if c.max_concurrent > 0 and c.ongoing < HARD_CAP and c.idle_ratio > 0
    ]
    if not eligible:
        return None
    best_ratio = max(c.idle_ratio for c in eligible)
    tied = [c for c in eligible if c.idle_ratio == best_ratio]
    least = min(c.accepted_today for c in tied)
    tied = [c for c in tied if c.accepted_today == least]
    return (rng or random).choice(tied)


async def lock_tenant_dispatch(db: AsyncSession, tenant_id: int) -> None:
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(text("SELECT pg_advisory_xact_lock(7301, :t)"), {"t": tenant_id})


def start_of_today(tenant: Tenant) -> datetime:
    zone = ZoneInfo(tenant.time_zone)
    local = clock.now().astimezone(zone)
    return datetime.combine(local.date(), time.min, tzinfo=zone)


async def ongoing_counts(db: AsyncSession, tenant_id: int) -> dict[int, int]:
    rows = await db.execute(
        select(Conversation.agent_id, func.count())
        .where(Conversation.tenant_id == tenant_id, Conversation.state == "ongoing")
        .group_by(Conversation.agent_id)
    )
    return {agent: n for agent, n in rows.all() if agent is not None}


async def _agent_role_ids(db: AsyncSession, tenant_id: int) -> list[int]:
    roles = await db.scalars(select(Role).where(Role.tenant_id == tenant_id))
    return [r.id for r in roles if "agent.sessions" in role_pages(r)]


async def candidates(db: AsyncSession, tenant: Tenant) -> list[Candidate]:
    """Idle agents of the Ungrouped pool with their load."""
    role_ids = await _agent_role_ids(db, tenant.id)
    rows = (
        await db.execute(
            select(User.id, User.max_concurrent)
            .join(Presence, Presence.user_id == User.id)
            .where(
                User.tenant_id == tenant.id,
                User.enabled.is_(True),
                User.role_id.in_(role_ids),
                Presence.status == "idle",
                User.max_concurrent > 0,
            )
        )
    ).all()
    if not rows:
        return []
    ongoing = await ongoing_counts(db, tenant.id)
    today = await db.execute(
        select(Segment.agent_id, func.count(func.distinct(Segment.conversation_id)))
        .where(
            Segment.tenant_id == tenant.id,
            Segment.started_at >= start_of_today(tenant),
            Segment.agent_id.in_([r[0] for r in rows]),
        )
        .group_by(Segment.agent_id)
    )
    accepted = {agent: n for agent, n in today.all()}
    return [Candidate(uid, mc, ongoing.get(uid, 0), accepted.get(uid, 0)) for uid, mc in rows]


async def waiting_count(db: AsyncSession, tenant_id: int) -> int:
    return (
        await db.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.tenant_id == tenant_id, Conversation.state == "waiting")
        )
    ) or 0
