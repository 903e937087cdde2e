"""Skill groups (§5.2): create, edit, delete, member management and favourite groups (§24).

Ungrouped is a real row whose members are computed (see membership.py): it can be configured
(greeting, plan, off-hours message, assignment mode) but not renamed, deleted or given members.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.audit.actions import record
from kefu.conversations.models import Conversation
from kefu.core import clock
from kefu.core.errors import ApiError, register_codes
from kefu.events.bus import emit
from kefu.events.types import CapacityFreed
from kefu.presence.models import Presence
from kefu.routing.group_schemas import (
    FavouriteGroupsOut,
    GroupCandidateOut,
    GroupChoiceOut,
    GroupMemberOut,
    MembersCodeOut,
    SkillGroupIn,
    SkillGroupOut,
    SkillGroupPatch,
)
from kefu.routing.membership import (
    UNGROUPED,
    agent_ids,
    ensure_ungrouped,
    member_ids,
    memberships,
)
from kefu.routing.membership import ungrouped_ids as computed_ungrouped
from kefu.routing.models import (
    DispatchSettings,
    FavouriteGroup,
    OverflowRule,
    RoutingRule,
    SkillGroup,
    SkillGroupMember,
    TimePlan,
)

register_codes(
    {
        "skill_group_name_taken": (
            409,
            "已有同名技能组，请换一个名称",
            "A skill group with this name already exists",
        ),
        "skill_group_builtin": (
            409,
            "“未分组”是内置技能组，不能改名、删除或管理成员",
            "Ungrouped is built in: it cannot be renamed or deleted, and its members are computed",
        ),
        "skill_group_bound_needs_member": (
            409,
            "该技能组已绑定渠道或关联，至少要保留一名成员",
            "This skill group is bound to a channel or association; keep at least one member",
        ),
    }
)


# ---------------------------------------------------------------- fetching and views


async def get_group(db: AsyncSession, tenant_id: int, group_id: int) -> SkillGroup:
    group = await db.scalar(
        select(SkillGroup).where(SkillGroup.id == group_id, SkillGroup.tenant_id == tenant_id)
    )
    if group is None:
        raise ApiError("not_found")
    return group


async def _statuses(db: AsyncSession, tenant_id: int, user_ids: Iterable[int]) -> dict[int, str]:
    """user id -> presence status; a user without a presence row is offline."""
    ids = list(user_ids)
    rows = await db.execute(
        select(Presence.user_id, Presence.status).where(
            Presence.tenant_id == tenant_id, Presence.user_id.in_(ids)
        )
    )
    found: dict[int, str] = {uid: status for uid, status in rows.all()}
    return {uid: found.get(uid, "offline") for uid in ids}


def group_out(group: SkillGroup, members: set[int], statuses: dict[int, str]) -> SkillGroupOut:
    return SkillGroupOut(
        id=group.id,
        name=group.name,
        builtin=group.builtin,
        greeting=group.greeting,
        time_plan_id=group.time_plan_id,
        off_hours_message=group.off_hours_message,
        assignment_mode=group.assignment_mode,
        prefer_previous=group.prefer_previous,
        member_count=len(members),
        idle_count=sum(1 for uid in members if statuses.get(uid) == "idle"),
        created_at=group.created_at,
        updated_at=group.updated_at,
    )


async def list_groups(db: AsyncSession, tenant_id: int) -> list[SkillGroupOut]:
    """Every group of the tenant: Ungrouped first, then by name."""
    await ensure_ungrouped(db, tenant_id)
    groups = list(await db.scalars(select(SkillGroup).where(SkillGroup.tenant_id == tenant_id)))
    groups.sort(key=lambda g: (g.builtin != UNGROUPED, g.name))
    members = await memberships(db, tenant_id)
    ungrouped = await computed_ungrouped(db, tenant_id)
    everyone = ungrouped.union(*members.values())
    statuses = await _statuses(db, tenant_id, everyone)
    return [
        group_out(g, ungrouped if g.builtin == UNGROUPED else members.get(g.id, set()), statuses)
        for g in groups
    ]


async def one_group_out(db: AsyncSession, tenant_id: int, group: SkillGroup) -> SkillGroupOut:
    members = await member_ids(db, tenant_id, group)
    return group_out(group, members, await _statuses(db, tenant_id, members))


async def list_members(
    db: AsyncSession,
    tenant_id: int,
    group: SkillGroup,
    *,
    q: str = "",
    statuses: set[str] | None = None,
) -> list[GroupMemberOut]:
    """Members (computed for Ungrouped), filtered by nickname/email text and presence status."""
    ids = await member_ids(db, tenant_id, group)
    if not ids:
        return []
    query = select(User).where(User.tenant_id == tenant_id, User.id.in_(ids))
    needle = q.strip().lower()
    if needle:
        like = f"%{_escape_like(needle)}%"
        query = query.where(
            or_(
                func.lower(User.nickname).like(like, escape="\\"),
                func.lower(User.email).like(like, escape="\\"),
            )
        )
    users = list(await db.scalars(query.order_by(User.nickname, User.id)))
    status_of = await _statuses(db, tenant_id, (u.id for u in users))
    if statuses is not None:
        users = [u for u in users if status_of[u.id] in statuses]
    ongoing = await _ongoing(db, tenant_id, [u.id for u in users])
    return [
        GroupMemberOut(
            id=u.id,
            nickname=u.nickname,
            real_name=u.real_name,
            email=u.email,
            status=status_of[u.id],
            max_concurrent=u.max_concurrent,
            ongoing=ongoing.get(u.id, 0),
        )
        for u in users
    ]


async def candidates(db: AsyncSession, tenant_id: int) -> list[GroupCandidateOut]:
    """Agents an admin can add to a group."""
    ids = await agent_ids(db, tenant_id)
    if not ids:
        return []
    users = await db.scalars(
        select(User).where(User.tenant_id == tenant_id, User.id.in_(ids)).order_by(User.nickname)
    )
    return [
        GroupCandidateOut(id=u.id, nickname=u.nickname, real_name=u.real_name, email=u.email)
        for u in users
    ]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _ongoing(db: AsyncSession, tenant_id: int, user_ids: list[int]) -> dict[int, int]:
    if not user_ids:
        return {}
    rows = await db.execute(
        select(Conversation.agent_id, func.count())
        .where(
            Conversation.tenant_id == tenant_id,
            Conversation.state == "ongoing",
            Conversation.agent_id.in_(user_ids),
        )
        .group_by(Conversation.agent_id)
    )
    return {int(agent): int(n) for agent, n in rows.all() if agent is not None}


# ---------------------------------------------------------------- create / edit / delete


async def _name_free(db: AsyncSession, tenant_id: int, name: str, exclude: int | None) -> None:
    # Case-insensitive, so "VIP" and "vip" are not two groups in one list.
    query = select(SkillGroup.id).where(
        SkillGroup.tenant_id == tenant_id, func.lower(SkillGroup.name) == name.lower()
    )
    if exclude is not None:
        query = query.where(SkillGroup.id != exclude)
    if await db.scalar(query) is not None:
        raise ApiError("skill_group_name_taken")


async def _check_plan(db: AsyncSession, tenant_id: int, plan_id: int | None) -> None:
    if plan_id is None:
        return
    found = await db.scalar(
        select(TimePlan.id).where(TimePlan.id == plan_id, TimePlan.tenant_id == tenant_id)
    )
    if found is None:
        raise ApiError("not_found")


async def create_group(
    db: AsyncSession, principal: Principal, body: SkillGroupIn, ip: str
) -> SkillGroup:
    tenant_id = principal.tenant_id
    await ensure_ungrouped(db, tenant_id)  # so its name is taken before anyone else's
    await _name_free(db, tenant_id, body.name, None)
    await _check_plan(db, tenant_id, body.time_plan_id)
    now = clock.now()
    group = SkillGroup(tenant_id=tenant_id, created_at=now, updated_at=now, **body.model_dump())
    db.add(group)
    await db.flush()
    _audit(db, principal, "skill_group.created", group, {"name": group.name}, ip)
    return group


async def update_group(
    db: AsyncSession, principal: Principal, group: SkillGroup, patch: SkillGroupPatch, ip: str
) -> None:
    changes = patch.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] == group.name:
        del changes["name"]
    if "name" in changes:
        if group.builtin == UNGROUPED:
            raise ApiError("skill_group_builtin")
        await _name_free(db, principal.tenant_id, changes["name"], group.id)
    if "time_plan_id" in changes:
        await _check_plan(db, principal.tenant_id, changes["time_plan_id"])
    detail: dict[str, object] = {"fields": sorted(changes)}
    if "name" in changes:
        detail.update({"from": group.name, "to": changes["name"]})
    for field, value in changes.items():
        setattr(group, field, value)
    group.updated_at = clock.now()
    _audit(db, principal, "skill_group.updated", group, detail, ip)


async def delete_group(db: AsyncSession, principal: Principal, group: SkillGroup, ip: str) -> None:
    """Delete a group; what pointed at it falls back to Ungrouped or loses the reference."""
    if group.builtin == UNGROUPED:
        raise ApiError("skill_group_builtin")
    tenant_id, group_id = principal.tenant_id, group.id
    await db.execute(
        update(Conversation)
        .where(Conversation.tenant_id == tenant_id, Conversation.skill_group_id == group_id)
        .values(skill_group_id=None)
    )
    await db.execute(
        delete(RoutingRule).where(
            RoutingRule.tenant_id == tenant_id,
            or_(
                (RoutingRule.on_target_type == "group") & (RoutingRule.on_target_id == group_id),
                (RoutingRule.off_target_type == "group") & (RoutingRule.off_target_id == group_id),
            ),
        )
    )
    await _forget_in_overflow_rules(db, tenant_id, group_id)
    settings = await db.scalar(
        select(DispatchSettings).where(DispatchSettings.tenant_id == tenant_id)
    )
    if settings is not None and group_id in settings.group_priority:
        settings.group_priority = [g for g in settings.group_priority if g != group_id]
        settings.updated_at = clock.now()
    _audit(db, principal, "skill_group.deleted", group, {"name": group.name}, ip)
    # Members, favourites and welcome-menu items go with the row (ON DELETE CASCADE).
    await db.execute(
        delete(SkillGroupMember).where(
            SkillGroupMember.tenant_id == tenant_id, SkillGroupMember.skill_group_id == group_id
        )
    )
    await db.delete(group)
    await db.flush()
    emit(db, CapacityFreed(tenant_id=tenant_id))


async def _forget_in_overflow_rules(db: AsyncSession, tenant_id: int, group_id: int) -> None:
    rules = await db.scalars(select(OverflowRule).where(OverflowRule.tenant_id == tenant_id))
    now = clock.now()
    for rule in rules:
        changed = False
        if rule.overflow_group_id == group_id:
            rule.overflow_group_id = None
            changed = True
        if group_id in rule.scope_group_ids:
            rule.scope_group_ids = [g for g in rule.scope_group_ids if g != group_id]
            # An empty scope means "every group": a rule scoped to this group alone must not
            # silently widen to all groups, so it is switched off instead.
            if not rule.scope_group_ids:
                rule.enabled = False
            changed = True
        if changed:
            rule.updated_at = now


# ---------------------------------------------------------------- members


async def _is_bound(db: AsyncSession, tenant_id: int, group_id: int) -> bool:
    """Whether a channel or association rule targets the group (on or off hours)."""
    found = await db.scalar(
        select(RoutingRule.id)
        .where(
            RoutingRule.tenant_id == tenant_id,
            RoutingRule.kind.in_(("channel", "association")),
            or_(
                (RoutingRule.on_target_type == "group") & (RoutingRule.on_target_id == group_id),
                (RoutingRule.off_target_type == "group") & (RoutingRule.off_target_id == group_id),
            ),
        )
        .limit(1)
    )
    return found is not None


async def _apply_members(
    db: AsyncSession,
    principal: Principal,
    group: SkillGroup,
    current: set[int],
    wanted: set[int],
    ip: str,
) -> None:
    """Write the member set `wanted` (from `current`), with the binding constraint and audit."""
    if current and not wanted and await _is_bound(db, principal.tenant_id, group.id):
        raise ApiError("skill_group_bound_needs_member")
    added, removed = wanted - current, current - wanted
    if not added and not removed:
        return
    if removed:
        await db.execute(
            delete(SkillGroupMember).where(
                SkillGroupMember.tenant_id == principal.tenant_id,
                SkillGroupMember.skill_group_id == group.id,
                SkillGroupMember.user_id.in_(removed),
            )
        )
    now = clock.now()
    for uid in sorted(added):
        db.add(
            SkillGroupMember(
                tenant_id=principal.tenant_id, skill_group_id=group.id, user_id=uid, created_at=now
            )
        )
    group.updated_at = now
    await db.flush()
    _audit(
        db,
        principal,
        "skill_group.members_changed",
        group,
        {"added": sorted(added), "removed": sorted(removed)},
        ip,
    )
    emit(db, CapacityFreed(tenant_id=principal.tenant_id))


async def set_members(
    db: AsyncSession, principal: Principal, group: SkillGroup, user_ids: list[int], ip: str
) -> None:
    """Replace the member set; every id must be a user of the tenant."""
    if group.builtin == UNGROUPED:
        raise ApiError("skill_group_builtin")
    wanted = set(user_ids)
    if wanted:
        known = set(
            await db.scalars(
                select(User.id).where(User.tenant_id == principal.tenant_id, User.id.in_(wanted))
            )
        )
        if known != wanted:
            raise ApiError("not_found")
    current = await member_ids(db, principal.tenant_id, group)
    await _apply_members(db, principal, group, current, wanted, ip)


async def members_by_code(
    db: AsyncSession, principal: Principal, group: SkillGroup, text: str, action: str, ip: str
) -> MembersCodeOut:
    """Code mode: add or remove the users whose login emails are listed, one per line."""
    if group.builtin == UNGROUPED:
        raise ApiError("skill_group_builtin")
    emails = list(dict.fromkeys(line.strip().lower() for line in text.splitlines() if line.strip()))
    rows = await db.execute(
        select(User.id, User.email).where(
            User.tenant_id == principal.tenant_id, func.lower(User.email).in_(emails)
        )
    )
    id_of = {email.lower(): uid for uid, email in rows.all()}
    current = await member_ids(db, principal.tenant_id, group)
    out = MembersCodeOut(added=[], removed=[], unknown=[], unchanged=[])
    wanted = set(current)
    for email in emails:
        uid = id_of.get(email)
        if uid is None:
            out.unknown.append(email)
        elif action == "add" and uid not in current:
            wanted.add(uid)
            out.added.append(email)
        elif action == "remove" and uid in current:
            wanted.discard(uid)
            out.removed.append(email)
        else:
            out.unchanged.append(email)
    await _apply_members(db, principal, group, current, wanted, ip)
    return out


# ---------------------------------------------------------------- favourites (§24)


async def favourites_out(db: AsyncSession, principal: Principal) -> FavouriteGroupsOut:
    """The caller's favourites and every group they can choose from, Ungrouped first."""
    await ensure_ungrouped(db, principal.tenant_id)
    all_groups = list(
        await db.scalars(select(SkillGroup).where(SkillGroup.tenant_id == principal.tenant_id))
    )
    all_groups.sort(key=lambda g: (g.builtin != UNGROUPED, g.name))
    favourite = set(
        await db.scalars(
            select(FavouriteGroup.skill_group_id).where(
                FavouriteGroup.tenant_id == principal.tenant_id,
                FavouriteGroup.user_id == principal.user.id,
            )
        )
    )
    return FavouriteGroupsOut(
        skill_group_ids=[g.id for g in all_groups if g.id in favourite],
        groups=[GroupChoiceOut(id=g.id, name=g.name, builtin=g.builtin) for g in all_groups],
    )


async def set_favourites(db: AsyncSession, principal: Principal, group_ids: list[int]) -> None:
    """Replace the caller's favourite groups (every id must be a group of the tenant)."""
    wanted = set(group_ids)
    if wanted:
        known = set(
            await db.scalars(
                select(SkillGroup.id).where(
                    SkillGroup.tenant_id == principal.tenant_id, SkillGroup.id.in_(wanted)
                )
            )
        )
        if known != wanted:
            raise ApiError("not_found")
    current = set(
        await db.scalars(
            select(FavouriteGroup.skill_group_id).where(
                FavouriteGroup.tenant_id == principal.tenant_id,
                FavouriteGroup.user_id == principal.user.id,
            )
        )
    )
    gone = current - wanted
    if gone:
        await db.execute(
            delete(FavouriteGroup).where(
                FavouriteGroup.tenant_id == principal.tenant_id,
                FavouriteGroup.user_id == principal.user.id,
                FavouriteGroup.skill_group_id.in_(gone),
            )
        )
    for gid in sorted(wanted - current):
        db.add(
            FavouriteGroup(
                tenant_id=principal.tenant_id, user_id=principal.user.id, skill_group_id=gid
            )
        )
    await db.flush()


def _audit(
    db: AsyncSession,
    principal: Principal,
    action: str,
    group: SkillGroup,
    detail: dict[str, object],
    ip: str,
) -> None:
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action=action,
        target_type="skill_group",
        target_id=group.id,
        detail=detail,
        ip=ip,
    )
