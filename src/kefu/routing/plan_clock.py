"""When a time plan next starts working, so hours-only dispatch resumes on time (§5.4).

With "auto-assign only in the group's working time" on, conversations wait through the night;
nothing else happens at the opening minute, so a durable timer wakes the queue then.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.routing.models import TimePlan
from kefu.routing.time_plans import is_working
from kefu.workers.models import Timer
from kefu.workers.scheduler import schedule_timer

DRAIN_TIMER = "routing.plan_opens"
HORIZON_DAYS = 15


def _ranges_on(plan: TimePlan, day: date) -> list[list[str]]:
    iso = day.isoformat()
    if iso in (plan.holidays or []):
        return []
    for w in plan.workdays or []:
        if w.get("date") == iso:
            return list(w.get("ranges", []))
    return list((plan.weekly or {}).get(str(day.isoweekday()), []))


def next_opening(plan: TimePlan, zone: str, at: datetime) -> datetime | None:
    """The first instant after `at` when the plan is working, within about two weeks."""
    tz = ZoneInfo(zone)
    local = at.astimezone(tz)
    for offset in range(HORIZON_DAYS):
        day = local.date() + timedelta(days=offset)
        for start, _end in sorted(_ranges_on(plan, day)):
            if start == "24:00":
                continue
            hh, mm = (int(x) for x in start.split(":"))
            begins = datetime.combine(day, time(hh, mm), tzinfo=tz).astimezone(UTC)
            if begins > at and is_working(plan, zone, begins):
                return begins
    return None


async def wake_queue_at(db: AsyncSession, tenant_id: int, due: datetime) -> None:
    """Make sure the tenant's queue is drained at `due` (keeps the earliest pending wake-up)."""
    current = await db.scalar(
        select(Timer.due_at).where(Timer.kind == DRAIN_TIMER, Timer.subject_id == tenant_id)
    )
    if current is not None and current <= due:
        return
    await schedule_timer(
        db, tenant_id=tenant_id, kind=DRAIN_TIMER, subject_id=tenant_id, due_at=due
    )
