"""Overflow rules (§5.8): a group's queue too long, or all its agents offline.

Each enabled rule whose scope holds the group applies: notices go to admins for every rule that
fires, and the conversation moves at most once per placement (to the first rule's group), which
keeps overlapping rules from bouncing a customer between groups.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.conversations import dispatch
from kefu.conversations.models import Conversation
from kefu.core import clock
from kefu.notifications.actions import notify
from kefu.roles.models import Role
from kefu.routing import greetings
from kefu.routing.models import OverflowRule, SkillGroup
from kefu.tenants.models import Tenant


async def admin_ids(db: AsyncSession, tenant_id: int) -> list[int]:
    rows = await db.scalars(
        select(User.id)
        .join(Role, Role.id == User.role_id)
        .where(User.tenant_id == tenant_id, User.enabled.is_(True), Role.builtin == "admin")
    )
    return list(rows)


async def notify_admins(
    db: AsyncSession, tenant_id: int, kind: str, data: dict[str, object]
) -> None:
    for uid in await admin_ids(db, tenant_id):
        await notify(db, tenant_id=tenant_id, user_id=uid, kind=kind, data=data)  # type: ignore[arg-type]


async def group_waiting(db: AsyncSession, tenant_id: int, group_id: int | None) -> int:
    same = (
        Conversation.skill_group_id.is_(None)
        if group_id is None
        else Conversation.skill_group_id == group_id
    )
    return (
        await db.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.tenant_id == tenant_id, Conversation.state == "waiting", same)
        )
    ) or 0


def _in_scope(rule: OverflowRule, group_key: int) -> bool:
    scope = [int(g) for g in rule.scope_group_ids or []]
    return not scope or group_key in scope


def all_offline(snap: dispatch.Snapshot, group_id: int | None) -> bool:
    pool = snap.pool(group_id)
    return all(snap.agents[u].status == "offline" for u in pool)


async def _rules(db: AsyncSession, tenant_id: int) -> list[OverflowRule]:
    return list(
        await db.scalars(
            select(OverflowRule)
            .where(OverflowRule.tenant_id == tenant_id, OverflowRule.enabled.is_(True))
            .order_by(OverflowRule.id)
        )
    )


async def _move(
    db: AsyncSession, snap: dispatch.Snapshot, conv: Conversation, target: SkillGroup
) -> None:
    conv.skill_group_id = None if target.builtin is not None else target.id
    conv.routed_by = "overflow"
    conv.queued_at = clock.now()
    working = await snap.working(db, conv.skill_group_id)
    await greetings.on_group(db, snap.tenant, conv, target, working=working, transfer=False)


async def _fire(
    db: AsyncSession,
    snap: dispatch.Snapshot,
    rule: OverflowRule,
    conv: Conversation,
    *,
    moved: bool,
    waiting: int,
    announce: bool = True,
) -> bool:
    """Apply one rule that fired for `conv`; True when the conversation moved."""
    source = snap.group(conv.skill_group_id)
    target = snap.groups.get(rule.overflow_group_id or 0)
    if target is None and rule.overflow_group_id == snap.ungrouped_group.id:
        target = snap.ungrouped_group
    do_move = not moved and target is not None and target.id != source.id
    if rule.notify and announce:
        await notify_admins(
            db,
            snap.tenant.id,
            "queue_overflow",
            {
                "rule_id": rule.id,
                "rule_name": rule.name,
                "condition": rule.condition,
                "from_group": source.name,
                "to_group": target.name if do_move and target is not None else None,
                "conversation_id": conv.id,
                "waiting": waiting,
            },
        )
    if do_move and target is not None:
        await _move(db, snap, conv, target)
        return True
    return False


async def on_queued(db: AsyncSession, snap: dispatch.Snapshot, conv: Conversation) -> bool:
    """A conversation could not be dispatched and joins its group's queue: apply the rules."""
    if conv.target_agent_id is not None:
        return False
    rules = await _rules(db, snap.tenant.id)
    if not rules:
        return False
    group_key = snap.group(conv.skill_group_id).id
    waiting = await group_waiting(db, snap.tenant.id, conv.skill_group_id)
    moved = False
    for rule in rules:
        if not _in_scope(rule, group_key):
            continue
        if rule.condition == "queue_length":
            if waiting <= (rule.threshold or 0):
                continue
        elif not all_offline(snap, conv.skill_group_id):
            continue
        moved = await _fire(db, snap, rule, conv, moved=moved, waiting=waiting) or moved
    return moved


async def sweep_offline(db: AsyncSession, tenant_id: int) -> int:
    """Every waiting conversation of a group whose agents are all offline overflows (§5.8)."""
    rules = [r for r in await _rules(db, tenant_id) if r.condition == "all_offline"]
    if not rules:
        return 0
    tenant_row = await db.get(Tenant, tenant_id)
    assert tenant_row is not None
    await dispatch.lock_tenant_dispatch(db, tenant_id)
    snap = await dispatch.snapshot(db, tenant_row)
    waiting = list(
        await db.scalars(
            select(Conversation)
            .where(
                Conversation.tenant_id == tenant_id,
                Conversation.state == "waiting",
                Conversation.target_agent_id.is_(None),
            )
            .order_by(Conversation.priority_rank, Conversation.queued_at, Conversation.id)
        )
    )
    moved_count = 0
    announced: set[tuple[int, int]] = set()
    for conv in waiting:
        if not all_offline(snap, conv.skill_group_id):
            continue
        group_key = snap.group(conv.skill_group_id).id
        moved = False
        for rule in rules:
            if not _in_scope(rule, group_key):
                continue
            # One notice per rule and group for the sweep, not one per conversation.
            first = (rule.id, group_key) not in announced
            announced.add((rule.id, group_key))
            count = await group_waiting(db, tenant_id, conv.skill_group_id)
            fired = await _fire(db, snap, rule, conv, moved=moved, waiting=count, announce=first)
            moved = fired or moved
        moved_count += moved
    return moved_count
