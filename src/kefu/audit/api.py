"""Settings > Audit log: admin changes, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import func, select

from kefu.access.guards import require_page
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute
from kefu.audit.models import AuditLog
from kefu.core.schemas import PageOut, PageParams

router = APIRouter(prefix="/audit-logs", tags=["audit"], route_class=UnitOfWorkRoute)


class AuditOut(BaseModel):
    id: int
    actor_user_id: int | None
    actor_name: str
    action: str
    target_type: str
    target_id: str
    detail: dict[str, Any]
    ip: str
    created_at: datetime


@router.get("", summary="Admin changes: who, what, when, IP")
async def list_audit(
    db: Db,
    params: Annotated[PageParams, Depends()],
    action: Annotated[str | None, Query(max_length=60, pattern=r"^[a-z_.]+$")] = None,
    principal: Principal = require_page("admin.settings.audit"),
) -> PageOut[AuditOut]:
    stmt = select(AuditLog).where(AuditLog.tenant_id == principal.tenant_id)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    total = int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = (
        await db.scalars(
            stmt.order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
            .offset(params.offset)
            .limit(params.page_size)
        )
    ).all()
    return PageOut[AuditOut](
        items=[AuditOut.model_validate(r, from_attributes=True) for r in rows],
        total=total,
        page=params.page,
        page_size=params.page_size,
    )
