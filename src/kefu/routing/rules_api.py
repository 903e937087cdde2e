"""Settings > Session assignment rules: routing, dispatch and overflow rules, the welcome menu."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from kefu.access.guards import require_page
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.routing import rules
from kefu.routing.models import (
    DispatchSettings,
    OverflowRule,
    RoutingRule,
    SkillGroup,
    WelcomeMenuItem,
)
from kefu.routing.rule_schemas import (
    DispatchSettingsIn,
    DispatchSettingsOut,
    OverflowRuleIn,
    OverflowRuleOut,
    OverflowRulePatch,
    RoutingRuleIn,
    RoutingRuleOut,
    RoutingRulePatch,
    RuleKind,
    RuleOrderIn,
    RuleTargetOut,
    WelcomeMenuIn,
    WelcomeMenuItemOut,
    WelcomeMenuOut,
)
from kefu.tags.models import VisitorTag

router = APIRouter(tags=["assignment rules"], route_class=UnitOfWorkRoute)
ManageRules = require_page("admin.settings.assignment_rules")
RuleId = Annotated[int, Path(ge=1, le=2**53)]


def _target(kind: str | None, target_id: int | None) -> RuleTargetOut | None:
    if kind is None:
        return None
    return RuleTargetOut(type=kind, id=None if kind == "robot" else target_id)


def rule_out(rule: RoutingRule, live_tags: set[int]) -> RoutingRuleOut:
    on = _target(rule.on_target_type, rule.on_target_id)
    assert on is not None
    return RoutingRuleOut(
        id=rule.id,
        kind=rule.kind,
        name=rule.name,
        enabled=rule.enabled,
        position=rule.position,
        tag_ids=[t for t in rule.tag_ids if t in live_tags],
        channel=rule.channel,
        association_id=rule.association_id,
        split=rule.split,
        time_plan_id=rule.time_plan_id,
        on_target=on,
        off_target=_target(rule.off_target_type, rule.off_target_id),
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


def dispatch_out(
    row: DispatchSettings, live_tags: set[int], live_groups: set[int]
) -> DispatchSettingsOut:
    levels = [[t for t in level if t in live_tags] for level in row.priority_levels][: rules.LEVELS]
    levels += [[] for _ in range(rules.LEVELS - len(levels))]
    return DispatchSettingsOut(
        rule_order=row.rule_order or list(rules.DEFAULT_RULE_ORDER),
        priority_levels=levels,
        capacity_allocation=row.capacity_allocation,
        group_priority=[g for g in row.group_priority if g in live_groups],
        # A row made elsewhere with the model default "off" reads as the first mode.
        returning_customer="most" if row.returning_customer == "most" else "last",
        transfer_confirm_seconds=row.transfer_confirm_seconds,
        updated_at=row.updated_at,
    )


def overflow_out(rule: OverflowRule, live_groups: set[int]) -> OverflowRuleOut:
    return OverflowRuleOut(
        id=rule.id,
        name=rule.name,
        condition=rule.condition,
        threshold=rule.threshold,
        overflow_group_id=rule.overflow_group_id,
        notify=rule.notify,
        scope_group_ids=[g for g in rule.scope_group_ids if g in live_groups],
        enabled=rule.enabled,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


# ---------------------------------------------------------------- routing rules


@router.get("/routing-rules", summary="Routing rules (customer by drag order, others by id)")
async def list_routing_rules(
    db: Db,
    principal: Principal = ManageRules,
    kind: Annotated[RuleKind | None, Query()] = None,
) -> list[RoutingRuleOut]:
    tags = await rules.live_ids(db, VisitorTag, principal.tenant_id)
    return [rule_out(r, tags) for r in await rules.list_rules(db, principal, kind)]


@router.post("/routing-rules", status_code=201, summary="Create a routing rule")
async def create_routing_rule(
    body: RoutingRuleIn, request: Request, db: Db, principal: Principal = ManageRules
) -> RoutingRuleOut:
    rule = await rules.create_rule(db, principal, body, client_ip(request))
    return rule_out(rule, set(rule.tag_ids))


@router.put("/routing-rules/order", summary="Reorder the customer-info rules (every id, new order)")
async def order_routing_rules(
    body: RuleOrderIn, request: Request, db: Db, principal: Principal = ManageRules
) -> list[RoutingRuleOut]:
    ordered = await rules.reorder_rules(db, principal, body.ids, client_ip(request))
    tags = await rules.live_ids(db, VisitorTag, principal.tenant_id)
    return [rule_out(r, tags) for r in ordered]


@router.patch("/routing-rules/{rule_id}", summary="Edit a routing rule (its kind stays)")
async def patch_routing_rule(
    rule_id: RuleId,
    body: RoutingRulePatch,
    request: Request,
    db: Db,
    principal: Principal = ManageRules,
) -> RoutingRuleOut:
    rule = await rules.get_rule(db, principal, rule_id)
    await rules.update_rule(db, principal, rule, body, client_ip(request))
    return rule_out(rule, set(rule.tag_ids))


@router.delete("/routing-rules/{rule_id}", status_code=204, summary="Delete a routing rule")
async def delete_routing_rule(
    rule_id: RuleId, request: Request, db: Db, principal: Principal = ManageRules
) -> None:
    rule = await rules.get_rule(db, principal, rule_id)
    await rules.delete_rule(db, principal, rule, client_ip(request))


# ---------------------------------------------------------------- dispatch settings


@router.get("/dispatch-settings", summary="Dispatch rules, rule priority, transfer expiry")
async def get_dispatch_settings(db: Db, principal: Principal = ManageRules) -> DispatchSettingsOut:
    row = await rules.dispatch_settings(db, principal)
    tid = principal.tenant_id
    return dispatch_out(
        row, await rules.live_ids(db, VisitorTag, tid), await rules.live_ids(db, SkillGroup, tid)
    )


@router.put("/dispatch-settings", summary="Save the dispatch rules (every field)")
async def put_dispatch_settings(
    body: DispatchSettingsIn, request: Request, db: Db, principal: Principal = ManageRules
) -> DispatchSettingsOut:
    row = await rules.update_dispatch(db, principal, body, client_ip(request))
    tid = principal.tenant_id
    return dispatch_out(
        row, await rules.live_ids(db, VisitorTag, tid), await rules.live_ids(db, SkillGroup, tid)
    )


# ---------------------------------------------------------------- overflow rules


@router.get("/overflow-rules", summary="Skill-group overflow rules")
async def list_overflow_rules(db: Db, principal: Principal = ManageRules) -> list[OverflowRuleOut]:
    groups = await rules.live_ids(db, SkillGroup, principal.tenant_id)
    return [overflow_out(r, groups) for r in await rules.list_overflow(db, principal)]


@router.post("/overflow-rules", status_code=201, summary="Create an overflow rule")
async def create_overflow_rule(
    body: OverflowRuleIn, request: Request, db: Db, principal: Principal = ManageRules
) -> OverflowRuleOut:
    rule = await rules.create_overflow(db, principal, body, client_ip(request))
    return overflow_out(rule, set(rule.scope_group_ids))


@router.patch("/overflow-rules/{rule_id}", summary="Edit an overflow rule")
async def patch_overflow_rule(
    rule_id: RuleId,
    body: OverflowRulePatch,
    request: Request,
    db: Db,
    principal: Principal = ManageRules,
) -> OverflowRuleOut:
    rule = await rules.get_overflow(db, principal, rule_id)
    await rules.update_overflow(db, principal, rule, body, client_ip(request))
    return overflow_out(rule, set(rule.scope_group_ids))


@router.delete("/overflow-rules/{rule_id}", status_code=204, summary="Delete an overflow rule")
async def delete_overflow_rule(
    rule_id: RuleId, request: Request, db: Db, principal: Principal = ManageRules
) -> None:
    rule = await rules.get_overflow(db, principal, rule_id)
    await rules.delete_overflow(db, principal, rule, client_ip(request))


# ---------------------------------------------------------------- welcome menu


def _menu_out(items: list[WelcomeMenuItem]) -> WelcomeMenuOut:
    return WelcomeMenuOut(
        items=[
            WelcomeMenuItemOut(id=i.id, label=i.label, skill_group_id=i.skill_group_id)
            for i in items
        ]
    )


@router.get("/welcome-menu", summary="Welcome-menu items, each bound to a skill group (§5.10)")
async def get_welcome_menu(db: Db, principal: Principal = ManageRules) -> WelcomeMenuOut:
    return _menu_out(await rules.welcome_menu(db, principal))


@router.put("/welcome-menu", summary="Replace the welcome-menu items (order kept)")
async def put_welcome_menu(
    body: WelcomeMenuIn, request: Request, db: Db, principal: Principal = ManageRules
) -> WelcomeMenuOut:
    return _menu_out(await rules.replace_welcome_menu(db, principal, body, client_ip(request)))
