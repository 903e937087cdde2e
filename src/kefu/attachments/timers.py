"""Durable deadline of attachments: a file's bytes go 7 × 24 h after upload."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.attachments.actions import EXPIRE_TIMER, expire
from kefu.core.db import settings_of
from kefu.workers.scheduler import DueTimer, timer_handler


@timer_handler(EXPIRE_TIMER)
async def attachment_expired(db: AsyncSession, timer: DueTimer) -> None:
    await expire(db, settings_of(db), timer.subject_id)
