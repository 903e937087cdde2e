"""Admin routes of time plans (SPEC §5.1, Settings > Time plans)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime

from kefu.access.guards import require_any_page, require_page
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.core import clock
from kefu.core.errors import field_error
from kefu.routing import time_plans as actions
from kefu.routing.models import TimePlan
from kefu.routing.time_plan_schemas import (
    TimePlanIn,
    TimePlanOut,
    TimePlanPatch,
    TimePlanStatusOut,
)

router = APIRouter(prefix="/time-plans", tags=["routing"], route_class=UnitOfWorkRoute)
ManagePlans = require_page("admin.settings.time_plans")
# Skill groups, assignment rules and channels choose a plan from this list.
ReadPlans = require_any_page(
    "admin.settings.time_plans",
    "admin.members.skill_groups",
    "admin.settings.assignment_rules",
    "admin.channels",
)
PlanId = Annotated[int, Path(ge=1, le=2**53)]


def plan_out(plan: TimePlan) -> TimePlanOut:
    return TimePlanOut.model_validate(plan, from_attributes=True)


@router.get("", summary="Time plans, the system default first")
async def list_time_plans(db: Db, principal: Principal = ReadPlans) -> list[TimePlanOut]:
    return [plan_out(p) for p in await actions.list_plans(db, principal.tenant_id)]


@router.post("", status_code=201, summary="Create a time plan")
async def create_time_plan(
    body: TimePlanIn, request: Request, db: Db, principal: Principal = ManagePlans
) -> TimePlanOut:
    return plan_out(await actions.create_plan(db, principal, body, client_ip(request)))


@router.get("/{plan_id}", summary="One time plan")
async def get_time_plan(plan_id: PlanId, db: Db, principal: Principal = ManagePlans) -> TimePlanOut:
    return plan_out(await actions.get_plan(db, principal, plan_id))


@router.patch("/{plan_id}", summary="Edit a time plan (the default plan keeps its name)")
async def patch_time_plan(
    plan_id: PlanId,
    body: TimePlanPatch,
    request: Request,
    db: Db,
    principal: Principal = ManagePlans,
) -> TimePlanOut:
    plan = await actions.get_plan(db, principal, plan_id)
    await actions.update_plan(db, principal, plan, body, client_ip(request))
    return plan_out(plan)


@router.delete("/{plan_id}", status_code=204, summary="Delete a time plan that nothing is bound to")
async def delete_time_plan(
    plan_id: PlanId, request: Request, db: Db, principal: Principal = ManagePlans
) -> None:
    plan = await actions.get_plan(db, principal, plan_id)
    await actions.delete_plan(db, principal, plan, client_ip(request))


@router.get("/{plan_id}/status", summary="Is the plan in working time now (or at `at`)")
async def time_plan_status(
    plan_id: PlanId,
    db: Db,
    at: Annotated[
        AwareDatetime | None,
        Query(description="An ISO date-time with its offset; omitted = now"),
    ] = None,
    principal: Principal = ManagePlans,
) -> TimePlanStatusOut:
    if at is not None and not 1900 <= at.year <= 2200:
        # Far-off instants overflow when moved between zones; nobody plans for them.
        raise field_error(
            "at", "range", "须在 1900 到 2200 年之间", "must be between 1900 and 2200"
        )
    plan = await actions.get_plan(db, principal, plan_id)
    moment = at or clock.now()
    zone = principal.tenant.time_zone
    return TimePlanStatusOut(
        working=actions.is_working(plan, zone, moment),
        at=moment.astimezone(ZoneInfo("UTC")),
        time_zone=zone,
        local_time=moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None).isoformat("T", "minutes"),
    )
