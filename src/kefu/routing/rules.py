"""Assignment rules configuration (§5.3, §5.6–§5.8, §5.10, §3.5 expiry): validate, write, audit.

The routing engine reads these rows at run time; this module only keeps them valid. A robot target
is stored with `on_target_id = 0` / `off_target_id = 0` until robots exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.audit.actions import record
from kefu.channels.models import Association
from kefu.core import clock
from kefu.core.errors import ApiError, field_error, register_codes
from kefu.core.i18n import pick
from kefu.routing.models import (
    DispatchSettings,
    OverflowRule,
    RoutingRule,
    SkillGroup,
    TimePlan,
    WelcomeMenuItem,
)
from kefu.routing.rule_schemas import (
    DispatchSettingsIn,
    OverflowRuleIn,
    OverflowRulePatch,
    RoutingRuleIn,
    RoutingRulePatch,
    WelcomeMenuIn,
)
from kefu.tags.models import VisitorTag

register_codes(
    {
        "rule_target_ungrouped": (
            422,
            "客户信息指定不能分配给“未分组”，请选择其他技能组、机器人或客服",
            "A customer-info rule cannot target Ungrouped; pick another group, a robot or an agent",
        ),
        "routing_rule_duplicate": (
            409,
            "该{what}已有路由规则，请直接编辑它",
            "This {what} already has a routing rule; edit that one instead",
        ),
        "routing_order_mismatch": (
            422,
            "排序须包含全部客户信息指定规则且每条只出现一次，请刷新后重试",
            "The order must list every customer-info rule exactly once; refresh and try again",
        ),
        "overflow_rule_no_action": (
            422,
            "请至少选择一个动作：溢出到技能组或通知管理员",
            "Choose at least one action: overflow to a group or notify admins",
        ),
        "overflow_rule_loop": (
            422,
            "溢出目标技能组不能在本规则的适用范围内，否则访客会在组间来回转移",
            "The overflow group cannot be in the rule's own scope, or visitors would bounce back",
        ),
    }
)

DEFAULT_RULE_ORDER = ["entry", "association", "channel"]
LEVELS = 10
ROBOT_ID = 0


# ---------------------------------------------------------------- lookups


async def _require(db: AsyncSession, model: Any, tenant_id: int, ids: set[int]) -> list[Any]:
    """The tenant's rows with these ids; any unknown or foreign id is a 404."""
    if not ids:
        return []
    rows = list(
        await db.scalars(select(model).where(model.tenant_id == tenant_id, model.id.in_(ids)))
    )
    if len(rows) != len(ids):
        raise ApiError("not_found")
    return rows


async def live_ids(db: AsyncSession, model: Any, tenant_id: int) -> set[int]:
    return set(await db.scalars(select(model.id).where(model.tenant_id == tenant_id)))


def _audit(
    db: AsyncSession,
    principal: Principal,
    action: str,
    target_type: str,
    target_id: object,
    detail: dict[str, Any],
    ip: str,
) -> None:
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        detail=detail,
        ip=ip,
    )


# ---------------------------------------------------------------- routing rules


async def list_rules(db: AsyncSession, principal: Principal, kind: str | None) -> list[RoutingRule]:
    query = select(RoutingRule).where(RoutingRule.tenant_id == principal.tenant_id)
    if kind is not None:
        query = query.where(RoutingRule.kind == kind)
    # Customer rules by drag position; the others by creation.
    query = query.order_by(RoutingRule.kind, RoutingRule.position, RoutingRule.id)
    rows = list(await db.scalars(query))
    return sorted(rows, key=lambda r: (r.kind, r.position if r.kind == "customer" else 0, r.id))


async def get_rule(db: AsyncSession, principal: Principal, rule_id: int) -> RoutingRule:
    rule = await db.scalar(
        select(RoutingRule).where(
            RoutingRule.id == rule_id, RoutingRule.tenant_id == principal.tenant_id
        )
    )
    if rule is None:
        raise ApiError("not_found")
    return rule


def _target_dict(kind: str | None, target_id: int | None) -> dict[str, Any] | None:
    if kind is None:
        return None
    return {"type": kind, "id": None if kind == "robot" else target_id}


def _rule_dict(rule: RoutingRule, live_tags: set[int]) -> dict[str, Any]:
    return {
        "kind": rule.kind,
        "name": rule.name,
        "enabled": rule.enabled,
        # Tags deleted since the rule was saved are dropped quietly.
        "tag_ids": [t for t in rule.tag_ids if t in live_tags],
        "channel": rule.channel,
        "association_id": rule.association_id,
        "split": rule.split,
        "time_plan_id": rule.time_plan_id,
        "on_target": _target_dict(rule.on_target_type, rule.on_target_id),
        "off_target": _target_dict(rule.off_target_type, rule.off_target_id),
    }


def _check_shape(data: dict[str, Any]) -> None:
    """Per-kind rules on the merged rule (422 with the field named)."""
    kind = data["kind"]
    on, off = data["on_target"], data["off_target"]
    for field, target in (("on_target", on), ("off_target", off)):
        if target and target["type"] in ("group", "agent") and target.get("id") is None:
            raise field_error(f"{field}.id", "required", "必填", "is required")
    if kind == "customer":
        if not data["name"]:
            raise field_error("name", "required", "必填", "is required")
        if not data["tag_ids"]:
            raise field_error("tag_ids", "min_items", "至少选择 1 个标签", "needs at least 1 tag")
        for field in ("channel", "association_id"):
            if data[field] is not None:
                raise field_error(
                    field, "not_allowed", "客户信息指定不使用此项", "is not used by customer rules"
                )
        if data["split"]:
            raise field_error(
                "split", "not_allowed", "客户信息指定不分上下班", "customer rules are never split"
            )
        if off is not None:
            raise field_error(
                "off_target",
                "not_allowed",
                "客户信息指定只有一个目标",
                "customer rules have one target",
            )
        data["time_plan_id"] = None
        return
    if data["tag_ids"]:
        raise field_error(
            "tag_ids", "not_allowed", "只有客户信息指定使用标签", "only customer rules use tags"
        )
    if kind == "channel":
        if data["channel"] is None:
            raise field_error("channel", "required", "必填", "is required")
        if data["association_id"] is not None:
            raise field_error(
                "association_id",
                "not_allowed",
                "渠道指定不使用关联",
                "is not used by channel rules",
            )
    else:
        if data["association_id"] is None:
            raise field_error("association_id", "required", "必填", "is required")
        if data["channel"] is not None:
            raise field_error(
                "channel", "not_allowed", "关联指定不使用渠道", "is not used by association rules"
            )
    for field, target in (("on_target", on), ("off_target", off)):
        if target and target["type"] == "agent":
            raise field_error(
                f"{field}.type",
                "target_type",
                "只能指定机器人或技能组",
                "must be a robot or a skill group",
            )
    if data["split"]:
        if off is None:
            raise field_error(
                "off_target", "required", "分上下班时须指定下班时间的目标", "is required when split"
            )
    else:
        if off is not None:
            raise field_error(
                "off_target", "not_allowed", "全天指定只有一个目标", "must be null when not split"
            )
        data["time_plan_id"] = None


async def _check_target(
    db: AsyncSession, tenant_id: int, kind: str, target: dict[str, Any] | None
) -> None:
    if target is None or target["type"] == "robot":
        return
    if target["type"] == "agent":
        await _require(db, User, tenant_id, {target["id"]})
        return
    (group,) = await _require(db, SkillGroup, tenant_id, {target["id"]})
    if kind == "customer" and group.builtin == "ungrouped":
        raise ApiError("rule_target_ungrouped")


async def _check_refs(
    db: AsyncSession, principal: Principal, data: dict[str, Any], before: dict[str, Any] | None
) -> None:
    """Referenced rows must be the tenant's (404). On edit, only values that change are checked,
    so a rule whose group was deleted can still be switched off."""
    tid = principal.tenant_id
    old = before or {}
    new_tags = set(data["tag_ids"]) - set(old.get("tag_ids", []))
    await _require(db, VisitorTag, tid, new_tags)
    if data["time_plan_id"] is not None and data["time_plan_id"] != old.get("time_plan_id"):
        await _require(db, TimePlan, tid, {data["time_plan_id"]})
    if data["association_id"] is not None and data["association_id"] != old.get("association_id"):
        await _require(db, Association, tid, {data["association_id"]})
    for field in ("on_target", "off_target"):
        if data[field] != old.get(field):
            await _check_target(db, tid, data["kind"], data[field])


async def _check_unique(
    db: AsyncSession, principal: Principal, data: dict[str, Any], rule_id: int | None
) -> None:
    if data["kind"] == "customer":
        return
    column = RoutingRule.channel if data["kind"] == "channel" else RoutingRule.association_id
    value = data["channel"] if data["kind"] == "channel" else data["association_id"]
    query = select(RoutingRule.id).where(
        RoutingRule.tenant_id == principal.tenant_id,
        RoutingRule.kind == data["kind"],
        column == value,
    )
    if rule_id is not None:
        query = query.where(RoutingRule.id != rule_id)
    if await db.scalar(query) is not None:
        what = {"channel": ("渠道", "channel"), "association": ("关联", "association")}
        zh, en = what[data["kind"]]
        raise ApiError("routing_rule_duplicate", what=pick(zh, en))


def _apply(rule: RoutingRule, data: dict[str, Any]) -> None:
    rule.name = data["name"]
    rule.enabled = data["enabled"]
    rule.tag_ids = list(data["tag_ids"])
    rule.channel = data["channel"]
    rule.association_id = data["association_id"]
    rule.split = data["split"]
    rule.time_plan_id = data["time_plan_id"]
    on, off = data["on_target"], data["off_target"]
    rule.on_target_type = on["type"]
    rule.on_target_id = ROBOT_ID if on["type"] == "robot" else on["id"]
    rule.off_target_type = off["type"] if off else None
    rule.off_target_id = (ROBOT_ID if off["type"] == "robot" else off["id"]) if off else None


def _normalise_targets(data: dict[str, Any]) -> None:
    for field in ("on_target", "off_target"):
        target = data[field]
        if target is not None and target["type"] == "robot":
            data[field] = {"type": "robot", "id": None}


async def create_rule(
    db: AsyncSession, principal: Principal, body: RoutingRuleIn, ip: str
) -> RoutingRule:
    data = body.model_dump()
    _normalise_targets(data)
    _check_shape(data)
    await _check_refs(db, principal, data, None)
    await _check_unique(db, principal, data, None)
    position = 0
    if data["kind"] == "customer":
        last = await db.scalar(
            select(func.max(RoutingRule.position)).where(
                RoutingRule.tenant_id == principal.tenant_id, RoutingRule.kind == "customer"
            )
        )
        position = 0 if last is None else last + 1
    now = clock.now()
    rule = RoutingRule(
        tenant_id=principal.tenant_id, kind=data["kind"], position=position, created_at=now
    )
    _apply(rule, data)
    rule.updated_at = now
    db.add(rule)
    await db.flush()
    _audit(
        db,
        principal,
        "routing_rule.created",
        "routing_rule",
        rule.id,
        {"kind": rule.kind, "name": rule.name, "channel": rule.channel},
        ip,
    )
    return rule


async def update_rule(
    db: AsyncSession, principal: Principal, rule: RoutingRule, patch: RoutingRulePatch, ip: str
) -> None:
    changes = patch.model_dump(exclude_unset=True)
    live_tags = await live_ids(db, VisitorTag, principal.tenant_id)
    before = _rule_dict(rule, live_tags)
    data = {**before, **changes}
    _normalise_targets(data)
    _check_shape(data)
    await _check_refs(db, principal, data, before)
    await _check_unique(db, principal, data, rule.id)
    _apply(rule, data)
    rule.updated_at = clock.now()
    _audit(
        db,
        principal,
        "routing_rule.updated",
        "routing_rule",
        rule.id,
        {"kind": rule.kind, "name": rule.name, "fields": sorted(changes)},
        ip,
    )


async def delete_rule(db: AsyncSession, principal: Principal, rule: RoutingRule, ip: str) -> None:
    _audit(
        db,
        principal,
        "routing_rule.deleted",
        "routing_rule",
        rule.id,
        {"kind": rule.kind, "name": rule.name, "channel": rule.channel},
        ip,
    )
    kind = rule.kind
    await db.delete(rule)
    await db.flush()
    if kind == "customer":
        rest = await list_rules(db, principal, "customer")
        for i, r in enumerate(rest):
            r.position = i


async def reorder_rules(
    db: AsyncSession, principal: Principal, ids: list[int], ip: str
) -> list[RoutingRule]:
    rules = await list_rules(db, principal, "customer")
    if sorted(r.id for r in rules) != sorted(ids):
        raise ApiError("routing_order_mismatch")
    by_id = {r.id: r for r in rules}
    now = clock.now()
    for i, rule_id in enumerate(ids):
        rule = by_id[rule_id]
        if rule.position != i:
            rule.position = i
            rule.updated_at = now
    _audit(db, principal, "routing_rule.reordered", "routing_rule", "", {"ids": ids}, ip)
    return [by_id[i] for i in ids]


# ---------------------------------------------------------------- dispatch settings


async def dispatch_settings(db: AsyncSession, principal: Principal) -> DispatchSettings:
    """The tenant's single row, created with the defaults on first use."""
    row = await db.scalar(
        select(DispatchSettings).where(DispatchSettings.tenant_id == principal.tenant_id)
    )
    if row is None:
        row = DispatchSettings(
            tenant_id=principal.tenant_id,
            rule_order=list(DEFAULT_RULE_ORDER),
            priority_levels=[[] for _ in range(LEVELS)],
            capacity_allocation=False,
            group_priority=[],
            returning_customer="last",
            transfer_confirm_seconds=60,
            updated_at=clock.now(),
        )
        db.add(row)
        await db.flush()
    return row


async def update_dispatch(
    db: AsyncSession, principal: Principal, body: DispatchSettingsIn, ip: str
) -> DispatchSettings:
    tid = principal.tenant_id
    await _require(db, VisitorTag, tid, {t for level in body.priority_levels for t in level})
    await _require(db, SkillGroup, tid, set(body.group_priority))
    row = await dispatch_settings(db, principal)
    row.rule_order = list(body.rule_order)
    row.priority_levels = [list(level) for level in body.priority_levels]
    row.capacity_allocation = body.capacity_allocation
    row.group_priority = list(body.group_priority)
    row.returning_customer = body.returning_customer
    row.transfer_confirm_seconds = body.transfer_confirm_seconds
    row.updated_at = clock.now()
    _audit(
        db,
        principal,
        "dispatch_settings.updated",
        "dispatch_settings",
        row.id,
        body.model_dump(),
        ip,
    )
    return row


# ---------------------------------------------------------------- overflow rules


async def list_overflow(db: AsyncSession, principal: Principal) -> list[OverflowRule]:
    return list(
        await db.scalars(
            select(OverflowRule)
            .where(OverflowRule.tenant_id == principal.tenant_id)
            .order_by(OverflowRule.id)
        )
    )


async def get_overflow(db: AsyncSession, principal: Principal, rule_id: int) -> OverflowRule:
    rule = await db.scalar(
        select(OverflowRule).where(
            OverflowRule.id == rule_id, OverflowRule.tenant_id == principal.tenant_id
        )
    )
    if rule is None:
        raise ApiError("not_found")
    return rule


def _check_overflow_shape(data: dict[str, Any]) -> None:
    if data["condition"] == "queue_length" and data["threshold"] is None:
        raise field_error(
            "threshold", "required", "排队人数条件须填写人数", "is required for queue length"
        )
    if data["condition"] == "all_offline" and data["threshold"] is not None:
        raise field_error(
            "threshold",
            "not_allowed",
            "“全部客服离线”条件不使用人数",
            "must be null for all offline",
        )
    if data["overflow_group_id"] is None and not data["notify"]:
        raise ApiError("overflow_rule_no_action")
    # An empty scope means every group; the engine skips the overflow group itself there.
    if (
        data["overflow_group_id"] is not None
        and data["overflow_group_id"] in data["scope_group_ids"]
    ):
        raise ApiError("overflow_rule_loop")


async def _check_overflow_refs(
    db: AsyncSession, principal: Principal, data: dict[str, Any], before: dict[str, Any]
) -> None:
    groups = set(data["scope_group_ids"]) - set(before.get("scope_group_ids", []))
    if data["overflow_group_id"] is not None and data["overflow_group_id"] != before.get(
        "overflow_group_id"
    ):
        groups.add(data["overflow_group_id"])
    await _require(db, SkillGroup, principal.tenant_id, groups)


def _overflow_dict(rule: OverflowRule, live_groups: set[int]) -> dict[str, Any]:
    return {
        "name": rule.name,
        "condition": rule.condition,
        "threshold": rule.threshold,
        "overflow_group_id": rule.overflow_group_id,
        "notify": rule.notify,
        "scope_group_ids": [g for g in rule.scope_group_ids if g in live_groups],
        "enabled": rule.enabled,
    }


def _apply_overflow(rule: OverflowRule, data: dict[str, Any]) -> None:
    for field in (
        "name",
        "condition",
        "threshold",
        "overflow_group_id",
        "notify",
        "enabled",
    ):
        setattr(rule, field, data[field])
    rule.scope_group_ids = list(data["scope_group_ids"])


async def create_overflow(
    db: AsyncSession, principal: Principal, body: OverflowRuleIn, ip: str
) -> OverflowRule:
    data = body.model_dump()
    _check_overflow_shape(data)
    await _check_overflow_refs(db, principal, data, {})
    now = clock.now()
    rule = OverflowRule(tenant_id=principal.tenant_id, created_at=now, updated_at=now)
    _apply_overflow(rule, data)
    db.add(rule)
    await db.flush()
    _audit(
        db, principal, "overflow_rule.created", "overflow_rule", rule.id, {"name": rule.name}, ip
    )
    return rule


async def update_overflow(
    db: AsyncSession, principal: Principal, rule: OverflowRule, patch: OverflowRulePatch, ip: str
) -> None:
    changes = patch.model_dump(exclude_unset=True)
    before = _overflow_dict(rule, await live_ids(db, SkillGroup, principal.tenant_id))
    data = {**before, **changes}
    _check_overflow_shape(data)
    await _check_overflow_refs(db, principal, data, before)
    _apply_overflow(rule, data)
    rule.updated_at = clock.now()
    _audit(
        db,
        principal,
        "overflow_rule.updated",
        "overflow_rule",
        rule.id,
        {"name": rule.name, "fields": sorted(changes)},
        ip,
    )


async def delete_overflow(
    db: AsyncSession, principal: Principal, rule: OverflowRule, ip: str
) -> None:
    _audit(
        db, principal, "overflow_rule.deleted", "overflow_rule", rule.id, {"name": rule.name}, ip
    )
    await db.delete(rule)


# ---------------------------------------------------------------- welcome menu


async def welcome_menu(db: AsyncSession, principal: Principal) -> list[WelcomeMenuItem]:
    return list(
        await db.scalars(
            select(WelcomeMenuItem)
            .where(WelcomeMenuItem.tenant_id == principal.tenant_id)
            .order_by(WelcomeMenuItem.position, WelcomeMenuItem.id)
        )
    )


async def replace_welcome_menu(
    db: AsyncSession, principal: Principal, body: WelcomeMenuIn, ip: str
) -> list[WelcomeMenuItem]:
    labels = [item.label for item in body.items]
    if len(set(labels)) != len(labels):
        raise field_error("items", "unique", "菜单项名称不能重复", "item labels must differ")
    await _require(
        db, SkillGroup, principal.tenant_id, {item.skill_group_id for item in body.items}
    )
    for old in await welcome_menu(db, principal):
        await db.delete(old)
    await db.flush()
    items = [
        WelcomeMenuItem(
            tenant_id=principal.tenant_id,
            label=item.label,
            skill_group_id=item.skill_group_id,
            position=i,
        )
        for i, item in enumerate(body.items)
    ]
    db.add_all(items)
    await db.flush()
    _audit(
        db,
        principal,
        "welcome_menu.updated",
        "welcome_menu",
        "",
        {"items": [{"label": i.label, "skill_group_id": i.skill_group_id} for i in items]},
        ip,
    )
    return items
