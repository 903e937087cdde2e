"""Routing (SPEC §5.3): which skill group, or which agent, a new conversation is for.

Order of strength, strongest first:
1. a customer-info rule naming an agent (beats everything, whatever the rule order);
2. customer-info rules in their drag order (where they sit against the other kinds is
   unspecified; we put them first because they single out a customer, and record it);
3. entry, association and channel rules in the tenant's drag order;
4. the default: the Ungrouped pool.
A robot target stands for "the robot first, then the next rule's group" (§5.3 hand-over);
until Kefu has a robot, routing moves on to the next rule that names a group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.conversations.dispatch import dispatch_settings
from kefu.routing.models import RoutingRule, SkillGroup, WelcomeMenuItem
from kefu.routing.time_plans import working_at
from kefu.tags.models import VisitorTagLink
from kefu.tenants.models import Tenant


@dataclass(frozen=True)
class Route:
    skill_group_id: int | None = None  # None = Ungrouped
    target_agent_id: int | None = None
    routed_by: str = "default"


async def visitor_tag_ids(db: AsyncSession, tenant_id: int, visitor_id: int) -> set[int]:
    rows = await db.scalars(
        select(VisitorTagLink.tag_id).where(
            VisitorTagLink.tenant_id == tenant_id, VisitorTagLink.visitor_id == visitor_id
        )
    )
    return set(rows)


async def _group_exists(db: AsyncSession, tenant_id: int, group_id: int) -> SkillGroup | None:
    group = await db.get(SkillGroup, group_id)
    return group if group is not None and group.tenant_id == tenant_id else None


async def _target_of(db: AsyncSession, tenant: Tenant, rule: RoutingRule) -> tuple[str, int] | None:
    """The (type, id) a channel/association/customer rule names now (split by working time)."""
    if rule.split and not await working_at(db, tenant, rule.time_plan_id):
        if rule.off_target_type is None or rule.off_target_id is None:
            return None
        return rule.off_target_type, rule.off_target_id
    return rule.on_target_type, rule.on_target_id


async def entry_group(
    db: AsyncSession, tenant_id: int, entry: dict[str, Any]
) -> tuple[SkillGroup | None, str]:
    """The group an entry names: the welcome menu item clicked, or the widget's parameter."""
    item_id = entry.get("menu_item")
    if isinstance(item_id, int):
        item = await db.get(WelcomeMenuItem, item_id)
        if item is not None and item.tenant_id == tenant_id:
            return await _group_exists(db, tenant_id, item.skill_group_id), "menu"
    named = entry.get("skill_group")
    if isinstance(named, int) or (isinstance(named, str) and named.isdigit()):
        found = await _group_exists(db, tenant_id, int(named))
        if found is not None:
            return found, "entry"
    if isinstance(named, str) and named:
        found = await db.scalar(
            select(SkillGroup).where(SkillGroup.tenant_id == tenant_id, SkillGroup.name == named)
        )
        return found, "entry"
    return None, "entry"


async def _agent_ok(db: AsyncSession, tenant_id: int, user_id: int) -> bool:
    user = await db.get(User, user_id)
    return user is not None and user.tenant_id == tenant_id and user.enabled


async def route(
    db: AsyncSession,
    tenant: Tenant,
    *,
    visitor_id: int,
    channel: str,
    association_id: int | None,
    entry: dict[str, Any],
) -> Route:
    """Decide the target of a new conversation."""
    tags = await visitor_tag_ids(db, tenant.id, visitor_id)
    rules = list(
        await db.scalars(
            select(RoutingRule)
            .where(RoutingRule.tenant_id == tenant.id, RoutingRule.enabled.is_(True))
            .order_by(RoutingRule.position, RoutingRule.id)
        )
    )
    customer = [r for r in rules if r.kind == "customer" and tags & set(r.tag_ids or [])]
    for rule in customer:
        if rule.on_target_type == "agent" and await _agent_ok(db, tenant.id, rule.on_target_id):
            return Route(target_agent_id=rule.on_target_id, routed_by="customer")

    # Candidate targets, strongest first.
    targets: list[tuple[str, str, int]] = [
        ("customer", r.on_target_type, r.on_target_id) for r in customer
    ]
    settings = await dispatch_settings(db, tenant.id)
    for kind in settings.rule_order or ["entry", "association", "channel"]:
        if kind == "entry":
            group, how = await entry_group(db, tenant.id, entry)
            if group is not None:
                targets.append((how, "group", group.id))
        elif kind == "association" and association_id is not None:
            for r in rules:
                if r.kind == "association" and r.association_id == association_id:
                    found = await _target_of(db, tenant, r)
                    if found is not None:
                        targets.append(("association", *found))
        elif kind == "channel":
            for r in rules:
                if r.kind == "channel" and r.channel == channel:
                    found = await _target_of(db, tenant, r)
                    if found is not None:
                        targets.append(("channel", *found))

    for how, kind, target_id in targets:
        if kind != "group":
            continue  # a robot target hands over to the next rule's group (no robot yet)
        group = await _group_exists(db, tenant.id, target_id)
        if group is None:
            continue
        if group.builtin is not None:
            return Route(routed_by=how)
        return Route(skill_group_id=group.id, routed_by=how)
    return Route()
