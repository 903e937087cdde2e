"""The transfer dialog's lists (§3.5, §3.6): colleagues by status, groups with live counts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.conversations import dispatch
from kefu.presence.actions import statuses
from kefu.routing import membership
from kefu.routing.models import FavouriteGroup, SkillGroup
from kefu.routing.waiting_schemas import TargetAgentOut, TargetGroupOut, TransferTargetsOut


async def transfer_targets(db: AsyncSession, principal: Principal) -> TransferTargetsOut:
    tenant_id = principal.tenant_id
    agent_ids = await membership.agent_ids(db, tenant_id)
    users = list(await db.scalars(select(User).where(User.id.in_(agent_ids))))
    status = await statuses(db, tenant_id=tenant_id, user_ids=[u.id for u in users])
    ongoing = await dispatch.ongoing_counts(db, tenant_id)
    members = await membership.memberships(db, tenant_id)
    ungrouped = await membership.ensure_ungrouped(db, tenant_id)
    grouped = set().union(*members.values()) if members else set()
    groups_of: dict[int, list[int]] = {}
    for gid, uids in members.items():
        for uid in uids:
            groups_of.setdefault(uid, []).append(gid)
    agents = [
        TargetAgentOut(
            id=u.id,
            nickname=u.nickname,
            real_name=u.real_name,
            status=status.get(u.id, "offline"),
            ongoing=ongoing.get(u.id, 0),
            max_concurrent=u.max_concurrent,
            at_hard_cap=ongoing.get(u.id, 0) >= dispatch.HARD_CAP,
            group_ids=sorted(groups_of.get(u.id, [])) or [ungrouped.id],
        )
        for u in users
        if u.id != principal.user.id
    ]
    # Idle > Busy > Away > Invisible > Offline, as fetched now (§2.1).
    agents.sort(key=lambda a: (dispatch.STATUS_ORDER.get(a.status, 9), a.nickname, a.id))
    rows = await db.scalars(
        select(SkillGroup)
        .where(SkillGroup.tenant_id == tenant_id, SkillGroup.builtin.is_(None))
        .order_by(SkillGroup.name)
    )

    def counts(uids: set[int]) -> tuple[int, int]:
        live = uids & agent_ids
        return len(live), sum(1 for u in live if status.get(u) == "idle")

    groups = []
    for group, uids in [(ungrouped, agent_ids - grouped)] + [
        (g, members.get(g.id, set())) for g in rows
    ]:
        n, idle = counts(uids)
        groups.append(
            TargetGroupOut(
                id=group.id, name=group.name, builtin=group.builtin, member_count=n, idle_count=idle
            )
        )
    favourites = await db.scalars(
        select(FavouriteGroup.skill_group_id).where(
            FavouriteGroup.tenant_id == tenant_id, FavouriteGroup.user_id == principal.user.id
        )
    )
    return TransferTargetsOut(
        agents=agents,
        groups=groups,
        favourite_group_ids=sorted(favourites),
        precise_group_stats=bool((principal.tenant.switches or {}).get("precise_group_stats")),
    )
