"""Data scopes: whose records a caller may see on Customer center, History, Current sessions.

Pages that list conversations or customers filter by the agents this returns (None = the whole
tenant): a team scope sees the caller's team and the teams below it, a skill-group scope the
members of every skill group the caller belongs to (an ungrouped caller sees their own records).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.guards import data_scope
from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.routing.models import SkillGroupMember
from kefu.teams.repo import all_teams, descendants


async def visible_agent_ids(db: AsyncSession, principal: Principal, data: str) -> set[int] | None:
    """The agents whose records `principal` may see on `data`; None means every agent."""
    scope = data_scope(principal, data)
    me = principal.user
    if scope == "tenant":
        return None
    if scope == "team" and me.team_id is not None:
        teams = descendants(await all_teams(db, tenant_id=principal.tenant_id), me.team_id)
        rows = await db.scalars(
            select(User.id).where(User.tenant_id == principal.tenant_id, User.team_id.in_(teams))
        )
        return set(rows.all()) | {me.id}
    if scope == "skill_group":
        mine = select(SkillGroupMember.skill_group_id).where(
            SkillGroupMember.tenant_id == principal.tenant_id, SkillGroupMember.user_id == me.id
        )
        rows = await db.scalars(
            select(SkillGroupMember.user_id).where(
                SkillGroupMember.tenant_id == principal.tenant_id,
                SkillGroupMember.skill_group_id.in_(mine),
            )
        )
        return set(rows.all()) | {me.id}
    return {me.id}
