"""Durable deadlines of presence: offline 30 s after the last socket closed."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.presence.actions import OFFLINE_TIMER, go_offline_if_unconnected
from kefu.workers.scheduler import DueTimer, timer_handler


@timer_handler(OFFLINE_TIMER)
async def offline_due(db: AsyncSession, timer: DueTimer) -> None:
    await go_offline_if_unconnected(db, tenant_id=timer.tenant_id, user_id=timer.subject_id)
