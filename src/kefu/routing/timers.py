"""Durable deadlines of routing: a transfer confirmation expires (§3.5); a group's working
time begins and its queue may be dispatched again (§5.4)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.routing.plan_clock import DRAIN_TIMER
from kefu.routing.queueing import drain
from kefu.routing.transfers import EXPIRE_TIMER, expire
from kefu.workers.scheduler import DueTimer, timer_handler


@timer_handler(EXPIRE_TIMER)
async def transfer_expired(db: AsyncSession, timer: DueTimer) -> None:
    await expire(db, timer.subject_id)


@timer_handler(DRAIN_TIMER)
async def plan_opens(db: AsyncSession, timer: DueTimer) -> None:
    await drain(db, timer.subject_id)
