"""History retention (§3.10): ended conversations older than the tenant's retention are purged.

One durable timer per tenant (kind `history.purge`, subject = tenant id) runs the sweep once a
day at 03:00 in the tenant's time zone. It is scheduled when a conversation of the tenant ends
(if none is pending) and when the retention setting is saved. A sweep deletes at most `BATCH`
conversations and, when more remain, runs again a minute later.

Deleting a conversation removes its messages, event log, participation segments, session tags
and their remark, satisfaction records, transfer requests and attachment rows (database
cascades) and the bytes of attachments not already expired.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.attachments.actions import storage_for
from kefu.attachments.models import Attachment
from kefu.conversations.hooks import Ending, after_end
from kefu.conversations.models import Conversation
from kefu.core import clock
from kefu.core.db import settings_of
from kefu.tenants.models import Tenant
from kefu.workers.models import Timer
from kefu.workers.scheduler import DueTimer, schedule_timer, timer_handler

PURGE_TIMER = "history.purge"
BATCH = 500
RUN_AT = time(3, 0)


def add_months(at: datetime, months: int) -> datetime:
    """`at` moved by whole months (negative: back), the day clamped to the month's length."""
    month0 = at.month - 1 + months
    year, month = at.year + month0 // 12, month0 % 12 + 1
    for day in (at.day, 30, 29, 28):
        try:
            return at.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _zone(tenant: Tenant) -> ZoneInfo:
    try:
        return ZoneInfo(tenant.time_zone or "Asia/Shanghai")
    except (KeyError, ValueError):
        return ZoneInfo("Asia/Shanghai")


def next_run(tenant: Tenant, now: datetime) -> datetime:
    """The next 03:00 in the tenant's time zone after `now`."""
    local = now.astimezone(_zone(tenant))
    run = datetime.combine(local.date(), RUN_AT, tzinfo=local.tzinfo)
    if run <= local:
        run = datetime.combine(local.date() + timedelta(days=1), RUN_AT, tzinfo=local.tzinfo)
    return run


async def retention_months(db: AsyncSession, tenant_id: int) -> int:
    from kefu.history.models import DEFAULT_RETENTION, HistorySettings

    months = await db.scalar(
        select(HistorySettings.retention_months).where(HistorySettings.tenant_id == tenant_id)
    )
    return int(months or DEFAULT_RETENTION)


def cutoff(now: datetime, months: int) -> datetime:
    """Conversations that ended before this are purged."""
    return add_months(now, -months)


async def schedule(db: AsyncSession, tenant: Tenant, *, soon: bool = False) -> None:
    now = clock.now()
    due = now + timedelta(minutes=1) if soon else next_run(tenant, now)
    await schedule_timer(
        db, tenant_id=tenant.id, kind=PURGE_TIMER, subject_id=tenant.id, due_at=due
    )


async def ensure_scheduled(db: AsyncSession, tenant_id: int) -> None:
    pending = await db.scalar(
        select(Timer.id).where(Timer.kind == PURGE_TIMER, Timer.subject_id == tenant_id).limit(1)
    )
    if pending is None:
        tenant = await db.get(Tenant, tenant_id)
        if tenant is not None:
            await schedule(db, tenant)


async def purge(db: AsyncSession, tenant_id: int, *, limit: int = BATCH) -> int:
    """Delete up to `limit` ended conversations of the tenant past its retention; how many."""
    months = await retention_months(db, tenant_id)
    before = cutoff(clock.now(), months)
    ids = list(
        await db.scalars(
            select(Conversation.id)
            .where(
                Conversation.tenant_id == tenant_id,
                Conversation.state == "ended",
                Conversation.ended_at < before,
            )
            .order_by(Conversation.ended_at, Conversation.id)
            .limit(limit)
        )
    )
    if not ids:
        return 0
    keys = list(
        await db.scalars(
            select(Attachment.storage_key).where(
                Attachment.conversation_id.in_(ids), Attachment.removed_at.is_(None)
            )
        )
    )
    # Children go with the conversations (ON DELETE CASCADE on both backends).
    await db.execute(delete(Conversation).where(Conversation.id.in_(ids)))
    await db.flush()
    if keys:
        storage = storage_for(settings_of(db))
        for key in keys:
            storage.delete(key)
    return len(ids)


@timer_handler(PURGE_TIMER)
async def purge_due(db: AsyncSession, timer: DueTimer) -> None:
    tenant = await db.get(Tenant, timer.subject_id)
    if tenant is None:
        return
    removed = await purge(db, tenant.id)
    await schedule(db, tenant, soon=removed >= BATCH)


@after_end(order=900)
async def _keep_sweeping(db: AsyncSession, conv: Conversation, ending: Ending) -> None:
    """The first end of a tenant's conversation starts its daily sweep."""
    await ensure_scheduled(db, conv.tenant_id)
