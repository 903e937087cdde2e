"""Who belongs to which skill group, including the built-in Ungrouped group (§5.2).

Ungrouped is a real row (its greeting, plan and off-hours message are configurable) but its
members are computed: every agent who is in no other group. Conversations routed to Ungrouped
keep `skill_group_id = NULL`, so deleting a group moves its conversations there by nulling.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import role_pages
from kefu.accounts.models import User
from kefu.core import clock
from kefu.roles.models import Role
from kefu.routing.models import SkillGroup, SkillGroupMember

UNGROUPED = "ungrouped"
UNGROUPED_NAME = "未分组"


async def ensure_ungrouped(db: AsyncSession, tenant_id: int) -> SkillGroup:
    """The tenant's Ungrouped group, created on first use."""
    found = await db.scalar(
        select(SkillGroup).where(SkillGroup.tenant_id == tenant_id, SkillGroup.builtin == UNGROUPED)
    )
    if found is not None:
        return found
    now = clock.now()
    group = SkillGroup(
        tenant_id=tenant_id, name=UNGROUPED_NAME, builtin=UNGROUPED, created_at=now, updated_at=now
    )
    try:
        async with db.begin_nested():
            db.add(group)
    except IntegrityError:
        # Another transaction made it at the same moment (names are unique per tenant).
        existing = await db.scalar(
            select(SkillGroup).where(
                SkillGroup.tenant_id == tenant_id, SkillGroup.builtin == UNGROUPED
            )
        )
        if existing is None:
            raise
        return existing
    return group


async def agent_role_ids(db: AsyncSession, tenant_id: int) -> list[int]:
    """The tenant's roles that open the Sessions page: their enabled users take conversations."""
    roles = await db.scalars(select(Role).where(Role.tenant_id == tenant_id))
    return [r.id for r in roles if "agent.sessions" in role_pages(r)]


async def agent_ids(db: AsyncSession, tenant_id: int) -> set[int]:
    """Enabled users whose role opens the Sessions page (they take conversations)."""
    role_ids = await agent_role_ids(db, tenant_id)
    rows = await db.scalars(
        select(User.id).where(
            User.tenant_id == tenant_id, User.enabled.is_(True), User.role_id.in_(role_ids)
        )
    )
    return set(rows)


async def memberships(
    db: AsyncSession, tenant_id: int, users: set[int] | None = None
) -> dict[int, set[int]]:
    """skill group id -> member user ids, for ordinary groups (of `users` only, if given)."""
    query = select(SkillGroupMember.skill_group_id, SkillGroupMember.user_id).where(
        SkillGroupMember.tenant_id == tenant_id
    )
    if users is not None:
        query = query.where(SkillGroupMember.user_id.in_(users))
    rows = await db.execute(query)
    out: dict[int, set[int]] = {}
    for group_id, user_id in rows.all():
        out.setdefault(group_id, set()).add(user_id)
    return out


async def groups_with_agents(
    db: AsyncSession, tenant_id: int, group_ids: set[int], role_ids: list[int]
) -> set[int]:
    """Those of `group_ids` with at least one member who takes conversations (any status)."""
    if not group_ids:
        return set()
    rows = await db.scalars(
        select(SkillGroupMember.skill_group_id)
        .join(User, User.id == SkillGroupMember.user_id)
        .where(
            SkillGroupMember.tenant_id == tenant_id,
            SkillGroupMember.skill_group_id.in_(group_ids),
            User.enabled.is_(True),
            User.role_id.in_(role_ids),
        )
        .distinct()
    )
    return set(rows)


async def ungrouped_ids(db: AsyncSession, tenant_id: int) -> set[int]:
    """Agents in no ordinary group."""
    grouped = set().union(*(await memberships(db, tenant_id)).values())
    return await agent_ids(db, tenant_id) - grouped


async def member_ids(db: AsyncSession, tenant_id: int, group: SkillGroup | None) -> set[int]:
    """Members of a group (None or the Ungrouped row = the computed Ungrouped pool)."""
    if group is None or group.builtin == UNGROUPED:
        return await ungrouped_ids(db, tenant_id)
    rows = await db.scalars(
        select(SkillGroupMember.user_id).where(
            SkillGroupMember.tenant_id == tenant_id, SkillGroupMember.skill_group_id == group.id
        )
    )
    return set(rows)
