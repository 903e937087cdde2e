"""The tenant's History settings (§3.10): how many months ended conversations are kept.

Shown to everyone with a History page (the page says how far back it goes); changed only by
users whose History data scope is the whole tenant (page admin.history): lowering it deletes
conversations of every agent.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.access.scopes import visible_agent_ids
from kefu.audit.actions import record
from kefu.core import clock
from kefu.core.errors import ApiError
from kefu.history import retention
from kefu.history.models import DEFAULT_RETENTION, RETENTION_CHOICES, HistorySettings
from kefu.history.schemas import HistorySettingsIn, HistorySettingsOut


async def _may_edit(db: AsyncSession, principal: Principal) -> bool:
    if "admin.history" not in principal.pages:
        return False
    return await visible_agent_ids(db, principal, "history") is None


async def view(db: AsyncSession, principal: Principal) -> HistorySettingsOut:
    row = await db.scalar(
        select(HistorySettings).where(HistorySettings.tenant_id == principal.tenant_id)
    )
    return HistorySettingsOut(
        retention_months=row.retention_months if row is not None else DEFAULT_RETENTION,
        choices=list(RETENTION_CHOICES),
        editable=await _may_edit(db, principal),
    )


async def save(
    db: AsyncSession, principal: Principal, body: HistorySettingsIn, *, ip: str = ""
) -> None:
    if not await _may_edit(db, principal):
        raise ApiError("forbidden")
    row = await db.scalar(
        select(HistorySettings).where(HistorySettings.tenant_id == principal.tenant_id)
    )
    before = row.retention_months if row is not None else DEFAULT_RETENTION
    if row is None:
        row = HistorySettings(tenant_id=principal.tenant_id, updated_at=clock.now())
        db.add(row)
    row.retention_months = body.retention_months
    row.updated_at = clock.now()
    await db.flush()
    if before != body.retention_months:
        record(
            db,
            principal,
            tenant_id=principal.tenant_id,
            action="history_settings.updated",
            target_type="history_settings",
            target_id=row.id,
            detail={"retention_months": {"from": before, "to": body.retention_months}},
            ip=ip,
        )
    await retention.schedule(db, principal.tenant)
