"""Time plans (SPEC §5.1): is a moment working time, the system default plan, and admin edits.

A plan is read on the tenant's wall clock: weekly ranges per ISO weekday, custom workdays whose
ranges replace the weekly ones on that date, and whole-day holidays that beat both. Ranges are
[start, end) in "HH:MM"; "24:00" ends a range at midnight.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.audit.actions import record
from kefu.core import clock
from kefu.core.db import sqlite_write_intent
from kefu.core.errors import ApiError, field_error, register_codes
from kefu.core.i18n import pick
from kefu.events.bus import emit
from kefu.events.types import CapacityFreed
from kefu.routing.models import RoutingRule, SkillGroup, TimePlan
from kefu.routing.time_plan_schemas import (
    WEEKDAYS,
    TimePlanIn,
    TimePlanPatch,
    minutes,
    normal_weekly,
)
from kefu.tenants.models import Tenant

register_codes(
    {
        "time_plan_name_taken": (
            409,
            "已有同名的时间计划",
            "A time plan with this name already exists",
        ),
        "time_plan_default": (
            409,
            "系统默认时间计划不能删除或改名",
            "The system default time plan cannot be deleted or renamed",
        ),
        "time_plan_in_use": (
            409,
            "该时间计划正在使用中（{where}），请先改用其他时间计划再删除",
            "This time plan is in use ({where}); switch those to another plan before deleting it",
        ),
    }
)

DEFAULT_NAME = "系统默认"
# A new tenant serves around the clock until an admin sets its hours (docs/decisions.md).
ALL_DAY = [["00:00", "24:00"]]


def is_working(plan: TimePlan, zone: str, at: datetime) -> bool:
    """Whether `at` falls in the plan's working time on the wall clock of `zone`."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    local = at.astimezone(ZoneInfo(zone))
    day = local.date().isoformat()
    if day in (plan.holidays or []):
        return False
    ranges = next(
        (w.get("ranges", []) for w in plan.workdays or [] if w.get("date") == day),
        None,
    )
    if ranges is None:
        ranges = (plan.weekly or {}).get(str(local.isoweekday()), [])
    # Ranges start and end on whole minutes, so the minute of the day decides [start, end).
    now = local.hour * 60 + local.minute
    return any(minutes(start) <= now < minutes(end) for start, end in ranges)


def _default_query(tenant_id: int) -> Select[TimePlan]:
    return (
        select(TimePlan)
        .where(TimePlan.tenant_id == tenant_id, TimePlan.is_default.is_(True))
        .order_by(TimePlan.id)
        .limit(1)
    )


def _new_default(tenant_id: int) -> TimePlan:
    now = clock.now()
    return TimePlan(
        tenant_id=tenant_id,
        name=DEFAULT_NAME,
        is_default=True,
        weekly={k: [list(r) for r in ALL_DAY] for k in WEEKDAYS},
        workdays=[],
        holidays=[],
        created_at=now,
        updated_at=now,
    )


async def _create_default_apart(db: AsyncSession, tenant_id: int) -> TimePlan:
    # A read-only SQLite unit (a GET) cannot turn into a writer once it has read: the write
    # goes through its own short transaction instead (the request's snapshot will not see the
    # row, so callers use the object returned here).
    token = sqlite_write_intent.set(True)
    try:
        for _ in range(2):
            async with AsyncSession(db.bind, expire_on_commit=False) as own:
                existing = await own.scalar(_default_query(tenant_id))
                if existing is not None:
                    return existing
                plan = _new_default(tenant_id)
                own.add(plan)
                try:
                    await own.commit()
                except IntegrityError:
                    continue  # created at the same moment elsewhere: read it
                return plan
        raise RuntimeError("could not create the default time plan")
    finally:
        sqlite_write_intent.reset(token)


async def default_plan(db: AsyncSession, tenant_id: int) -> TimePlan:
    """The tenant's system default plan, created on first use (all day, every day)."""
    plan = await db.scalar(_default_query(tenant_id))
    if plan is not None:
        return plan
    if db.get_bind().dialect.name == "sqlite" and not sqlite_write_intent.get():
        return await _create_default_apart(db, tenant_id)
    plan = _new_default(tenant_id)
    try:
        async with db.begin_nested():
            db.add(plan)
    except IntegrityError:
        # Another transaction created it at the same moment (unique name per tenant).
        existing = await db.scalar(_default_query(tenant_id))
        if existing is None:
            raise
        return existing
    return plan


async def plan_of(db: AsyncSession, tenant_id: int, plan_id: int | None) -> TimePlan:
    """The plan `plan_id` of the tenant; the default plan when unset or no longer there."""
    if plan_id is not None:
        plan = await db.scalar(
            select(TimePlan).where(TimePlan.id == plan_id, TimePlan.tenant_id == tenant_id)
        )
        if plan is not None:
            return plan
    return await default_plan(db, tenant_id)


async def working_at(
    db: AsyncSession, tenant: Tenant, plan_id: int | None, at: datetime | None = None
) -> bool:
    """Whether the tenant's plan `plan_id` (None = default) is in working time at `at`."""
    plan = await plan_of(db, tenant.id, plan_id)
    return is_working(plan, tenant.time_zone, at or clock.now())


# --- admin actions -------------------------------------------------------------------------


async def list_plans(db: AsyncSession, tenant_id: int) -> list[TimePlan]:
    """Every plan of the tenant, the default first (it is created if missing)."""
    default = await default_plan(db, tenant_id)
    rows = await db.scalars(
        select(TimePlan)
        .where(TimePlan.tenant_id == tenant_id, TimePlan.id != default.id)
        .order_by(TimePlan.id)
    )
    return [default, *rows]


async def get_plan(db: AsyncSession, principal: Principal, plan_id: int) -> TimePlan:
    plan = await db.scalar(
        select(TimePlan).where(TimePlan.id == plan_id, TimePlan.tenant_id == principal.tenant_id)
    )
    if plan is None:
        raise ApiError("not_found")
    return plan


async def _name_free(db: AsyncSession, tenant_id: int, name: str, exclude: int | None) -> None:
    query = select(TimePlan.id).where(TimePlan.tenant_id == tenant_id, TimePlan.name == name)
    if exclude is not None:
        query = query.where(TimePlan.id != exclude)
    if await db.scalar(query) is not None:
        raise ApiError("time_plan_name_taken")


def _check_no_clash(workdays: list[Any], holidays: list[Any]) -> None:
    both = sorted({w["date"] for w in workdays} & set(holidays))
    if both:
        raise field_error(
            "holidays",
            "workday_holiday",
            f"{both[0]} 不能既是自定义工作日又是节假日",
            f"{both[0]} cannot be both a custom workday and a holiday",
        )


async def create_plan(
    db: AsyncSession, principal: Principal, body: TimePlanIn, ip: str
) -> TimePlan:
    # The default plan holds its name first, so nobody can take "系统默认" before it exists.
    await default_plan(db, principal.tenant_id)
    await _name_free(db, principal.tenant_id, body.name, None)
    data = body.model_dump(mode="json")
    now = clock.now()
    plan = TimePlan(
        tenant_id=principal.tenant_id,
        name=data["name"],
        is_default=False,
        weekly=normal_weekly(data["weekly"]),
        workdays=data["workdays"],
        holidays=data["holidays"],
        created_at=now,
        updated_at=now,
    )
    db.add(plan)
    await db.flush()
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="time_plan.created",
        target_type="time_plan",
        target_id=plan.id,
        detail={"name": plan.name},
        ip=ip,
    )
    return plan


async def update_plan(
    db: AsyncSession, principal: Principal, plan: TimePlan, patch: TimePlanPatch, ip: str
) -> None:
    changes = patch.model_dump(mode="json", exclude_unset=True)
    if "name" in changes:
        if changes["name"] == plan.name:
            del changes["name"]
        elif plan.is_default:
            raise ApiError("time_plan_default")
        else:
            await _name_free(db, principal.tenant_id, changes["name"], plan.id)
    if "weekly" in changes:
        changes["weekly"] = normal_weekly(changes["weekly"])
    _check_no_clash(changes.get("workdays", plan.workdays), changes.get("holidays", plan.holidays))
    detail: dict[str, Any] = {"fields": sorted(changes)}
    if "name" in changes:
        detail.update({"from": plan.name, "to": changes["name"]})
    for field, value in changes.items():
        setattr(plan, field, value)
    plan.updated_at = clock.now()
    # New hours may open a group now: let the queue try again (hours-only dispatch, §5.4).
    emit(db, CapacityFreed(tenant_id=principal.tenant_id))
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="time_plan.updated",
        target_type="time_plan",
        target_id=plan.id,
        detail=detail,
        ip=ip,
    )


async def _where_used(db: AsyncSession, plan: TimePlan) -> str:
    groups = list(
        await db.scalars(
            select(SkillGroup.name)
            .where(SkillGroup.tenant_id == plan.tenant_id, SkillGroup.time_plan_id == plan.id)
            .order_by(SkillGroup.id)
        )
    )
    rules = (
        await db.execute(
            select(RoutingRule.id, RoutingRule.name)
            .where(RoutingRule.tenant_id == plan.tenant_id, RoutingRule.time_plan_id == plan.id)
            .order_by(RoutingRule.id)
        )
    ).all()
    sep = pick("、", ", ")
    parts = []
    if groups:
        parts.append(pick("技能组：", "skill groups: ") + sep.join(_quoted(g) for g in groups))
    if rules:
        names = [_quoted(name) if name else f"#{rule_id}" for rule_id, name in rules]
        parts.append(pick("路由规则：", "routing rules: ") + sep.join(names))
    return pick("；", "; ").join(parts)


def _quoted(name: str) -> str:
    return pick(f"“{name}”", f'"{name}"')


async def delete_plan(db: AsyncSession, principal: Principal, plan: TimePlan, ip: str) -> None:
    if plan.is_default:
        raise ApiError("time_plan_default")
    where = await _where_used(db, plan)
    if where:
        raise ApiError("time_plan_in_use", where=where)
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="time_plan.deleted",
        target_type="time_plan",
        target_id=plan.id,
        detail={"name": plan.name},
        ip=ip,
    )
    await db.delete(plan)
